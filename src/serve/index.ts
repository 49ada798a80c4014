/** The HTTP API (`flowmaster serve`): buildServer() and what a plugin of it needs. */
export { buildServer, type FlowmasterServer, type ServerOptions } from './server';
export { Reader, type Backend, type ReaderOptions } from './reader';
export { readTokenFile, tokenMatches } from './auth';
export { replyOf, type ErrorBody } from './errors';
