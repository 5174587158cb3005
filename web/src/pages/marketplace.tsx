import { useState } from 'preact/hooks';
import { api, ApiError, type Listing } from '../api';
import { ErrorNotice, Loading } from '../components/common';
import { Link } from '../router';
import { usePoll } from '../use-poll';

type Kind = '' | 'template' | 'community';

function ListingCard({
  listing,
  onInstalled,
}: {
  listing: Listing;
  onInstalled: (id: string, title: string) => void;
}) {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(null);
  const headingId = `listing-${listing.id}`;
  const install = async () => {
    setBusy(true);
    setError(null);
    try {
      const workflow = await api.install(listing.id);
      onInstalled(workflow.id, workflow.title ?? listing.title);
    } catch (caught) {
      setError(caught);
    } finally {
      setBusy(false);
    }
  };
  const inputs = Object.keys(listing.inputs ?? {});
  return (
    <article class="card listing" aria-labelledby={headingId}>
      <h2 id={headingId}>{listing.title}</h2>
      <p class="muted small">
        {listing.kind} · {listing.category} · {listing.credit_cost} credits
        {listing.estimated_duration ? ` · ${listing.estimated_duration}` : ''} · {listing.install_count}{' '}
        installs
      </p>
      <p>{listing.description}</p>
      <p class="small">
        {listing.steps.length} steps: {listing.steps.map((step) => step.tool).join(' → ')}
        {inputs.length > 0 && (
          <>
            <br />
            Inputs: {inputs.join(', ')}
          </>
        )}
        {listing.required_secrets.length > 0 && (
          <>
            <br />
            Needs secrets: {listing.required_secrets.join(', ')}
          </>
        )}
      </p>
      <ErrorNotice error={error} />
      <button type="button" onClick={install} disabled={busy} aria-describedby={headingId}>
        Install
      </button>
    </article>
  );
}

export function MarketplacePage() {
  const [kind, setKind] = useState<Kind>('');
  const [search, setSearch] = useState('');
  const [installed, setInstalled] = useState<{ id: string; title: string } | null>(null);
  const listings = usePoll(() => api.explore(), [], { live: false });
  const needle = search.trim().toLowerCase();
  const shown = (listings.data?.workflows ?? []).filter(
    (listing) =>
      (!kind || listing.kind === kind) &&
      (!needle ||
        `${listing.title} ${listing.description} ${listing.category}`.toLowerCase().includes(needle)),
  );
  const notYet = listings.error instanceof ApiError && listings.error.status === 501;

  return (
    <>
      <h1>Marketplace</h1>
      <p role="status">
        {installed && (
          <>
            Installed “{installed.title}”.{' '}
            <Link href={`/workflows/${encodeURIComponent(installed.id)}`}>Open it</Link>
          </>
        )}
      </p>
      <form class="filters" aria-label="Marketplace filters" onSubmit={(e) => e.preventDefault()}>
        <div>
          <label for="market-kind">Show</label>
          <select id="market-kind" value={kind} onChange={(e) => setKind(e.currentTarget.value as Kind)}>
            <option value="">templates and community</option>
            <option value="template">templates</option>
            <option value="community">community</option>
          </select>
        </div>
        <div>
          <label for="market-search">Search</label>
          <input
            id="market-search"
            type="search"
            value={search}
            onInput={(e) => setSearch(e.currentTarget.value)}
          />
        </div>
      </form>
      {notYet ? (
        <p>The marketplace is not available on this server yet.</p>
      ) : (
        <ErrorNotice error={listings.error} />
      )}
      {listings.loading && !listings.data && <Loading what="the marketplace" />}
      {listings.data && shown.length === 0 && <p>No listing matches.</p>}
      <div class="grid">
        {shown.map((listing) => (
          <ListingCard
            key={listing.id}
            listing={listing}
            onInstalled={(id, title) => setInstalled({ id, title })}
          />
        ))}
      </div>
    </>
  );
}
