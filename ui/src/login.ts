// The login URL flowlens prints carries the API token in its fragment (#token=…), which the
// browser never sends to a server. Read it once, trade it for the session cookie, and take
// it out of the address bar and the history before anything else runs.

/** Logs in with the fragment's token, if there is one; resolves once the cookie is set. */
export async function loginFromFragment(): Promise<void> {
  const match = /^#token=([^&]*)/.exec(window.location.hash);
  if (!match) return;
  const token = decodeURIComponent(match[1]);
  const url = new URL(window.location.href);
  url.hash = "";
  window.history.replaceState(null, "", url.pathname + url.search);
  try {
    await fetch("/api/login", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ token }),
      credentials: "same-origin",
    });
  } catch {
    // The views report an unreachable server themselves.
  }
}
