import { hostname, userInfo } from 'node:os';

/** Who does an operator action when nobody says: the OS user at this host. */
export function defaultActor(): string {
  let user = 'unknown';
  try {
    user = userInfo().username;
  } catch {
    // no user entry (a container with an arbitrary uid)
  }
  return `${user}@${hostname()}`;
}
