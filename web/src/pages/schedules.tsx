import { api } from '../api';
import { ErrorNotice, StatusBadge } from '../components/common';
import { formatInZone, viewerTimeZone } from '../format';
import { usePoll } from '../use-poll';

/** A workflow's schedules with their next fire time in the schedule's zone and the viewer's. */
export function SchedulesSection({ workflowId }: { workflowId: string }) {
  const schedules = usePoll(() => api.schedules(workflowId), [workflowId], { intervalMs: 30_000 });
  const viewer = viewerTimeZone();
  if (!schedules.data?.length) return <ErrorNotice error={schedules.error} />;
  return (
    <section aria-labelledby="schedules-heading">
      <h2 id="schedules-heading">Schedules</h2>
      <ErrorNotice error={schedules.error} />
      <table>
        <thead>
          <tr>
            <th scope="col">Schedule</th>
            <th scope="col">Status</th>
            <th scope="col">Next fire (schedule's zone)</th>
            <th scope="col">Next fire (your zone, {viewer})</th>
          </tr>
        </thead>
        <tbody>
          {schedules.data.map((schedule) => (
            <tr key={schedule.scheduleId}>
              <td>
                {schedule.kind === 'cron' || schedule.cron ? <code>{schedule.cron}</code> : <span>once</span>}{' '}
                <span class="muted small">{schedule.timezone}</span>
              </td>
              <td>
                <StatusBadge status={schedule.scheduleStatus} />
                {schedule.statusReason && <div class="muted small">{schedule.statusReason}</div>}
              </td>
              <td>{schedule.nextFireAt ? formatInZone(schedule.nextFireAt, schedule.timezone) : '—'}</td>
              <td>{schedule.nextFireAt ? formatInZone(schedule.nextFireAt, viewer) : '—'}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </section>
  );
}
