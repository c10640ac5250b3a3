// Clients write: through the node's rules and signatures, live to other
// clients and to partner nodes, credited to the person.
import { test, before, after } from "node:test"
import assert from "node:assert/strict"
import { next as A } from "@automerge/automerge"
import { Node, draft, until } from "../kpd.js"

let a, b, made, editor, reader, space

before(async () => {
  a = await new Node("Institute A").start()
  b = await new Node("Institute B").start()
  made = draft(a, "# Sending money home\n\nRemittances grew.\n")
  space = a.kp("space", "show", "Remittances WG").id
  a.kp("space", "add-member", space, b.id, "--role", "editor", "--institution", "Institute B")
  await a.link(b)
  editor = await a.login("Amina Diallo")
  reader = await a.login("Rui Reader")
  a.kp("space", "add-person", space, "Amina Diallo", "--role", "editor", "--title", "chair")
  a.kp("space", "add-person", space, "Rui Reader", "--role", "reader")
})
after(async () => {
  await a?.cleanup()
  await b?.cleanup()
})

const body = (node) => node.kp("draft", "show", made.id).body

test("a client's edit shows in kp, reaches a partner, and is credited to the person", async () => {
  const repo = a.client(editor)
  const handle = await repo.find(`automerge:${made.id}`)
  handle.change((d) => A.splice(d, ["body"], d.body.length, 0, "Costs fell to 6 percent.\n"))
  await until("the edit on the node", () => body(a).endsWith("Costs fell to 6 percent.\n"))
  await until("the edit at the partner", () => body(b).endsWith("Costs fell to 6 percent.\n"))
  const blame = b.kp("doc", "blame", made.id)
  const mine = blame.changes.filter((c) => c.author === "Amina Diallo")
  assert.ok(mine.length > 0, JSON.stringify(blame.changes.slice(-3)))
  assert.ok(mine.every((c) => c.node_id === a.id && c.signature === "verified" && c.institution === "Institute A"), JSON.stringify(mine))
  // The plain log credits the person too.
  assert.ok(a.kp("draft", "log", made.id).changes.some((c) => c.author === "Amina Diallo"))
})

test("two clients see each other's edits and presence live", async () => {
  const one = await a.client(editor).find(`automerge:${made.id}`)
  const two = await a.client(editor).find(`automerge:${made.id}`)
  one.change((d) => A.splice(d, ["body"], 0, 0, "[one] "))
  await until("one's edit at two", () => two.doc().body.startsWith("[one] "))
  two.change((d) => A.splice(d, ["body"], d.body.length, 0, "[two]\n"))
  await until("two's edit at one", () => one.doc().body.endsWith("[two]\n"))
  const seen = new Promise((resolve) =>
    two.on("ephemeral-message", (m) => {
      // The node says who sent it: the person it logged in, at its node.
      assert.ok(m.senderId.startsWith(`Amina Diallo@${a.id}/`), m.senderId)
      resolve(m.message)
    }),
  )
  // Presence is sent until it arrives: the node relays it only once two has
  // the document open, which it does by now.
  const timer = setInterval(() => one.broadcast({ cursor: 7, who: "Amina" }), 100)
  try {
    assert.deepEqual(await seen, { cursor: 7, who: "Amina" })
  } finally {
    clearInterval(timer)
  }
})

test("a reader's edit is refused and reaches no one", async () => {
  const before = body(a)
  const watcher = await a.client(editor).find(`automerge:${made.id}`)
  const handle = await a.client(reader).find(`automerge:${made.id}`)
  handle.change((d) => A.splice(d, ["body"], 0, 0, "READER WAS HERE "))
  await until("the node to log the refusal", () => /refused a client's changes/.test(a.log) || undefined, 20000)
  // An editor's later edit goes through; the reader's never does.
  watcher.change((d) => A.splice(d, ["body"], d.body.length, 0, "After.\n"))
  await until("the editor's edit at the partner", () => body(b).endsWith("After.\n"))
  for (const text of [body(a), body(b), watcher.doc().body]) {
    assert.ok(!text.includes("READER WAS HERE"), text)
  }
  assert.ok(body(a).startsWith(before.slice(0, 10)))
})

/** A new draft as kp writes one: scalar strings, text for the body, and the
 * lists and maps later edits add to. */
function newDraft(space, title, body) {
  const s = (v) => new A.RawString(v)
  return {
    kind: s("draft"),
    schema: 1,
    space: s(space),
    title: s(title),
    draft_type: s("policy-brief"),
    status: s("draft"),
    created_at: Math.floor(Date.now() / 1000),
    authors: [],
    body,
    versions: [],
    comments: {},
    review: { submissions: [], assignments: [], decisions: [], publications: [], withdrawals: [] },
  }
}

test("a draft a client creates is taken, listed by kp and replicated", async () => {
  const repo = a.client(editor)
  const handle = repo.create(newDraft(space, "Made in the browser", "Fees fell.\n"))
  const id = handle.documentId
  await until("the node to take the new draft", () =>
    a.kp("draft", "list").drafts?.some((d) => d.id === id) || undefined,
  )
  assert.equal(a.kp("draft", "show", id).body, "Fees fell.\n")
  await until("the partner to receive it", () => {
    try {
      return b.kp("draft", "show", id).body === "Fees fell.\n"
    } catch {
      return false
    }
  })
})

test("a malformed document, or a reader's draft, is refused with nothing stored", async () => {
  const count = () => a.kp("draft", "list").drafts.length
  const before = count()
  const refusals = () => (a.log.match(/refused a client's changes/g) ?? []).length
  const r0 = refusals()
  // Each from a client of its own: a session logs its first refusal.
  const junk = a.client(editor).create({ kind: "draft", note: "no fields" })
  const stray = a.client(editor).create(newDraft("2j9knpCseyhnK8izDmLpGP5WMdZQ", "Nowhere", "x"))
  const byReader = a.client(reader).create(newDraft(space, "A reader's", "x"))
  await until("the node to refuse the three", () => refusals() >= r0 + 3 || undefined)
  for (const why of ["a client may create drafts only", "a space this node holds", "readers change nothing"]) {
    assert.ok(a.log.includes(why), `the log does not say "${why}": ${a.log}`)
  }
  assert.equal(count(), before)
  for (const h of [junk, stray, byReader]) {
    assert.throws(() => a.kp("draft", "show", h.documentId), /no draft/)
    assert.throws(() => b.kp("draft", "show", h.documentId))
  }
})

test("a draft of a space the node does not hold is unavailable, like one that does not exist", async () => {
  b.kp("space", "create", "B only", "--theme", "2")
  const file = `${b.root}/private.md`
  const { writeFileSync } = await import("node:fs")
  writeFileSync(file, "Not for A.\n")
  const secret = b.kp("draft", "new", "--space", "B only", "--title", "Private", "--file", file)
  const repo = a.client(editor)
  await assert.rejects(repo.find(`automerge:${secret.id}`), /unavailable/)
  assert.throws(() => a.kp("draft", "show", secret.id), /no draft/)
})
