// The node's calls (`POST /api/call/METHOD`, JSON both ways).

export class CallError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

export async function call(method, body = {}) {
  let r;
  try {
    r = await fetch(`/api/call/${method}`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify(body),
      credentials: "same-origin",
    });
  } catch {
    throw new CallError(0, "the node cannot be reached; your edits are kept in this browser");
  }
  const text = await r.text();
  let v;
  try {
    v = JSON.parse(text);
  } catch {
    throw new CallError(r.status, `the node answered ${r.status}`);
  }
  if (!r.ok) throw new CallError(r.status, v.error || `the node answered ${r.status}`);
  return v;
}
