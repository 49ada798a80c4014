import { loadNative } from '../../src/engine/native';

/** Why the native addon does not load here, or undefined when it does (tests that need it skip with this). */
export const addonError: string | undefined = (() => {
  try {
    loadNative();
    return undefined;
  } catch (e) {
    return (e as Error).message;
  }
})();
