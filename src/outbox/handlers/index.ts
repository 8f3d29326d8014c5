import type { AnyHandler } from '../registry';
import { notifyClientHandler } from './notify-client';

/**
 * The application's own handlers, each a subscription of its own. Add yours here (README: "Use
 * it on your own tables"); the sinks the configuration turns on come after them.
 */
export const appHandlers: readonly AnyHandler[] = [notifyClientHandler];
