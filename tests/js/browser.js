// The web workspace in a real browser: Debian's headless Chromium driven by
// playwright-core (which downloads no browser of its own).
import { existsSync, mkdirSync } from "node:fs"
import { join } from "node:path"
import { chromium } from "playwright-core"
import { until } from "./kpd.js"

const here = new URL(".", import.meta.url).pathname
/** Where the tests leave their screenshots. */
export const shots = process.env.KP_SCREENSHOTS ?? join(here, "out", "screenshots")

export const chromiumPath =
  process.env.KP_CHROMIUM ??
  ["/usr/bin/chromium-headless-shell", "/usr/bin/chromium"].find((p) => existsSync(p))

export async function launch() {
  if (!chromiumPath) {
    throw new Error("no Chromium: install Debian's chromium-headless-shell (scripts/test does, as root)")
  }
  return chromium.launch({ executablePath: chromiumPath })
}

/** A person with an account on `node`, logged in through the login link in a
 * browser context of their own; their page on the workspace's home. */
export async function personAt(browser, node, name, options = {}) {
  const { link } = node.kp("user", "add", name)
  const context = await browser.newContext({ viewport: { width: 1280, height: 860 }, ...options })
  const page = await context.newPage()
  page.errors = []
  page.on("pageerror", (e) => page.errors.push(e.message))
  page.on("console", (m) => m.type() === "error" && page.errors.push(m.text()))
  await page.goto(link)
  await page.getByTestId("me").waitFor()
  return page
}

/** Saves a screenshot of `page` as NAME.png. */
export async function shot(page, name) {
  mkdirSync(shots, { recursive: true })
  await page.screenshot({ path: join(shots, `${name}.png`), fullPage: true })
}

/** The draft's text in the page's editor. */
export function editorText(page) {
  return page
    .locator(".cm-content")
    .evaluate((el) =>
      [...el.querySelectorAll(".cm-line")]
        .map((l) => {
          // Without the other people's carets (their names are widgets).
          const c = l.cloneNode(true)
          for (const w of c.querySelectorAll(".caret")) w.remove()
          return c.textContent
        })
        .join("\n"),
    )
}

export { until }

const axeSource = new URL("./node_modules/axe-core/axe.min.js", import.meta.url).pathname

/** The serious and critical accessibility violations axe-core finds on the
 * page as it is (the page's context must bypass its CSP to load axe). */
export async function axeViolations(page) {
  if (!(await page.evaluate(() => Boolean(window.axe)))) await page.addScriptTag({ path: axeSource })
  const r = await page.evaluate(() => window.axe.run(document, { resultTypes: ["violations"] }))
  return r.violations
    .filter((v) => v.impact === "serious" || v.impact === "critical")
    .map((v) => `${v.id} (${v.impact}): ${v.help} — ${v.nodes.map((n) => n.target.join(" ")).slice(0, 3).join(", ")}`)
}
