/** Outbound callback deliveries and their attempts. */
// eslint-disable-next-line @typescript-eslint/no-empty-object-type
export interface DeliveryStore {}
