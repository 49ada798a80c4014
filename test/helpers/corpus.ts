/** The shared capture corpus (../shared/pcaps beside the repo) and its tshark oracles. */
import * as fs from 'node:fs';
import * as path from 'node:path';

export const CORPUS_DIR = process.env.FLOWMASTER_CORPUS ?? path.resolve(__dirname, '..', '..', '..', 'shared', 'pcaps');
export const COMMUNITY_ID_DIR = path.resolve(CORPUS_DIR, '..', 'community-id');
export const corpusPresent = fs.existsSync(CORPUS_DIR);

export interface Conversation {
  a_addr: string;
  a_port: number;
  b_addr: string;
  b_port: number;
  frames_a_to_b: number;
  bytes_a_to_b: number;
  frames_b_to_a: number;
  bytes_b_to_a: number;
}

export interface Oracle {
  file: string;
  readable: boolean;
  error: string | null;
  packet_count: number;
  tcp_conversations: Conversation[];
  udp_conversations: Conversation[];
  header: { format: string; link_types: number[] };
}

export function corpusFiles(): { name: string; path: string; oracle: Oracle }[] {
  if (!corpusPresent) return [];
  return fs
    .readdirSync(CORPUS_DIR)
    .filter((f) => f.endsWith('.oracle.json'))
    .sort()
    .map((f) => {
      const name = f.slice(0, -'.oracle.json'.length);
      return { name, path: path.join(CORPUS_DIR, name), oracle: JSON.parse(fs.readFileSync(path.join(CORPUS_DIR, f), 'utf8')) as Oracle };
    });
}

/** Why the corpus tests skip here, or undefined when the corpus is present. */
export const corpusMissing: string | undefined = corpusPresent ? undefined : `${CORPUS_DIR} not found (set FLOWMASTER_CORPUS to the shared/pcaps folder)`;
