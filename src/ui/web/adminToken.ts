/** The operator's admin token for this tab only (sessionStorage): it unlocks the money and network parts. */
const KEY = 'openlora.adminToken';

export function adminToken(): string | null {
  return sessionStorage.getItem(KEY);
}

export function setAdminToken(token: string | null): void {
  if (token) sessionStorage.setItem(KEY, token);
  else sessionStorage.removeItem(KEY);
}
