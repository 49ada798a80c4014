/** The paging parameters of flows and devices as the store's requests: a keyset page (limit, cursor) or a numbered one (page). */
import { FlowmasterError } from '../../errors';
import type { Order } from '../../store/query';

export interface PagingQuery<S> {
  sort: S;
  order: Order;
  limit: number;
  cursor?: string;
  page?: number;
  pageSize?: number;
  total: boolean;
}

/** Which kind of page the query asks for; the parameters of the other kind are refused, not ignored. */
export function paging<S, F>(q: PagingQuery<S>, filter: F):
  | { offset: { filter: F; sort: S; order: Order; page: number; pageSize: number; total: boolean } }
  | { keyset: { filter: F; sort: S; order: Order; limit: number; cursor?: string } } {
  if (q.page === undefined) {
    if (q.pageSize !== undefined || q.total) throw new FlowmasterError('ERR_USAGE', 'pageSize and total go with page (offset paging)');
    return { keyset: { filter, sort: q.sort, order: q.order, limit: q.limit, cursor: q.cursor } };
  }
  if (q.cursor !== undefined) throw new FlowmasterError('ERR_USAGE', 'give page or cursor, not both');
  // as the CLI's --limit with --page: the page size unless pageSize says otherwise
  return { offset: { filter, sort: q.sort, order: q.order, page: q.page, pageSize: q.pageSize ?? q.limit, total: q.total } };
}
