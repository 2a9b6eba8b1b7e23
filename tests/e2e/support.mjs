import assert from "node:assert/strict";
// What every end-to-end test needs: the running service, the demo tokens, a browser, and a place
// for screenshots. `run.sh` starts the service and passes these through the environment.
import { execFileSync } from "node:child_process";
import { createHmac } from "node:crypto";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { chromium } from "playwright-core";

export const baseUrl = process.env.E2E_BASE_URL;
const screenshots = process.env.E2E_SCREENSHOTS;

/** The demo tokens by label (TENANT_ADMIN_LOT, PRESCRIBER_LOT, …), as `seed-demo` wrote them. */
export const tokens = Object.fromEntries(
  readFileSync(process.env.E2E_TOKENS, "utf8")
    .split("\n")
    .filter((line) => line.includes("="))
    .map((line) => line.split("=", 2)),
);

/** A call to the API as one of the demo users; fails the test on an unexpected status. */
export async function api(method, path, label, body, expected = 200) {
  const response = await fetch(baseUrl + path, {
    method,
    headers: {
      authorization: `Bearer ${tokens[label]}`,
      ...(body ? { "content-type": "application/json" } : {}),
    },
    body: body ? JSON.stringify(body) : undefined,
  });
  const text = await response.text();
  if (response.status !== expected) {
    throw new Error(`${method} ${path} as ${label}: ${response.status}, expected ${expected}: ${text}`);
  }
  return text ? JSON.parse(text) : null;
}

/** Debian's Chromium, headless, with nothing that would reach the network on its own. */
export async function browser() {
  return browserWith([]);
}

/** The same, with more command-line switches (a fake camera). */
export async function browserWith(switches) {
  return chromium.launch({
    executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
    args: [
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
      ...switches,
    ],
  });
}

/** A phone-sized page (an animator's or a holder's), or a desk one. */
export async function page(browserInstance, { phone = false } = {}) {
  const context = await browserInstance.newContext({
    locale: "fr-FR",
    viewport: phone ? { width: 390, height: 844 } : { width: 1280, height: 900 },
    deviceScaleFactor: 1,
    isMobile: phone,
    hasTouch: phone,
  });
  const opened = await context.newPage();
  // The service's Content-Security-Policy must take nothing away from its own pages: Chromium
  // reports each refusal on the console, and `screenshot` fails the test with them.
  opened.cspViolations = [];
  opened.on("console", (message) => {
    if (/Content.Security.Policy/i.test(message.text())) opened.cspViolations.push(message.text());
  });
  return opened;
}

const axeSource = readFileSync(new URL("./node_modules/axe-core/axe.min.js", import.meta.url), "utf8");

/** Checks the page against the WCAG 2.1 A and AA rules (what the RGAA builds on) with axe-core;
 * fails the test with every violation found, named by its rule and the elements it concerns. */
export async function checkAccessibility(pageInstance, name) {
  // Evaluated by the browser's debugging protocol, not as a <script> element the page's
  // Content-Security-Policy would (rightly) refuse.
  await pageInstance.evaluate(axeSource);
  const violations = await pageInstance.evaluate(async () => {
    const result = await window.axe.run(document, {
      runOnly: { type: "tag", values: ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"] },
    });
    return result.violations.map((v) => ({
      rule: v.id,
      impact: v.impact,
      help: v.help,
      nodes: v.nodes.slice(0, 5).map((n) => n.target.join(" ")),
    }));
  });
  if (violations.length > 0) {
    throw new Error(`${name}: accessibility violations:\n${JSON.stringify(violations, null, 2)}`);
  }
}

/** Writes `name.png`, the whole page, to the screenshots folder the README points to, after
 * checking the page's accessibility. */
export async function screenshot(pageInstance, name) {
  assert.deepEqual(pageInstance.cspViolations ?? [], [], `${name}: the page broke its own Content-Security-Policy`);
  await checkAccessibility(pageInstance, name);
  await pageInstance.screenshot({ path: join(screenshots, `${name}.png`), fullPage: true });
}

/** Today's date in Paris (YYYY-MM-DD), the product's "today". */
export function parisToday() {
  return new Intl.DateTimeFormat("en-CA", { timeZone: "Europe/Paris" }).format(new Date());
}

/**
 * The time in Paris `minutes` ago as "HH:MM", never before today's midnight: attendance is noted
 * only for a session that has started, and a voucher issued today has no session before today.
 */
export function parisTimeAgo(minutes) {
  const total = Math.max(0, parisMinutesSinceMidnight() - minutes);
  return `${String(Math.floor(total / 60)).padStart(2, "0")}:${String(total % 60).padStart(2, "0")}`;
}

/** Minutes since midnight in Paris, where the product's days begin. */
export function parisMinutesSinceMidnight() {
  const parts = new Intl.DateTimeFormat("en-GB", {
    timeZone: "Europe/Paris",
    hour: "2-digit",
    minute: "2-digit",
    hourCycle: "h23",
  }).formatToParts(new Date());
  const hour = Number(parts.find((p) => p.type === "hour").value);
  const minute = Number(parts.find((p) => p.type === "minute").value);
  return hour * 60 + minute;
}

/** The Lot's active scheme. */
export async function lotScheme() {
  const schemes = await api("GET", "/v1/schemes", "TENANT_ADMIN_LOT");
  return schemes.items.find((s) => s.status === "active");
}

/** A voucher issued by the Lot's demo prescriber to a new holder; returns its reference. */
export async function issueVoucher(firstName, lastName) {
  const scheme = await lotScheme();
  const issued = await api(
    "POST",
    "/v1/vouchers",
    "PRESCRIBER_LOT",
    {
      scheme_id: scheme.id,
      beneficiary: {
        first_name: firstName,
        last_name: lastName,
        birth_year: 1948,
        commune_insee: "46042",
        public_category: "senior",
      },
    },
    201,
  );
  return issued.voucher.reference;
}

/** The demo EPN registers the voucher after the interview, with modules 1 to 10 chosen. */
export async function registerAtDemoEpn(reference, lastName) {
  await api(
    "POST",
    "/v1/registrations",
    "EPN_LOT",
    {
      reference,
      last_name: lastName,
      interview: { on: parisToday(), minutes: 30, autonomy_level: "beginner", needs: "Démarches en ligne" },
      modules: [1, 2, 3, 4, 5, 6, 7, 8, 9, 10],
    },
    201,
  );
}

/** The demo EPN registers the voucher and records its holder present at a session held now,
 * with one competence worked. */
export async function attendOneSession(reference, lastName) {
  const scheme = await lotScheme();
  await registerAtDemoEpn(reference, lastName);
  const session = await api(
    "POST",
    "/v1/sessions",
    "EPN_LOT",
    { scheme_id: scheme.id, module_number: 1, starts_at: new Date().toISOString(), capacity: 8 },
    201,
  );
  await api("POST", `/v1/sessions/${session.id}/attendance`, "EPN_LOT", {
    entries: [{ reference, status: "present", competences: [{ code: "2.1", level: "practised" }] }],
  });
}

/** Signs a demo user in to the Lot's portal (`<role>@lot.example`, the demo password). */
export async function signIn(pageInstance, email) {
  await pageInstance.goto(`${baseUrl}/portail/lot/connexion`);
  await pageInstance.getByLabel("Adresse électronique").fill(email);
  await pageInstance.getByLabel("Mot de passe").fill("demo-passerelle");
  await pageInstance.getByRole("button", { name: "Se connecter" }).click();
  await passSecondFactor(pageInstance, email);
  await pageInstance.getByRole("heading", { level: 1 }).filter({ hasText: "Bonjour" }).waitFor();
}

// The second factor, as each demo user's authenticator app would hold it: its key, the last time
// step whose code was typed, and its recovery codes, kept in a file beside the demo tokens so that
// the test files, each in its own process, share them.
const authenticatorsFile = `${process.env.E2E_TOKENS}.authenticators.json`;

function authenticators() {
  return existsSync(authenticatorsFile) ? JSON.parse(readFileSync(authenticatorsFile, "utf8")) : {};
}

function base32Decode(text) {
  const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
  let bits = "";
  for (const c of text.replace(/[\s=]/g, "").toUpperCase()) bits += alphabet.indexOf(c).toString(2).padStart(5, "0");
  const bytes = [];
  for (let i = 0; i + 8 <= bits.length; i += 8) bytes.push(parseInt(bits.slice(i, i + 8), 2));
  return Buffer.from(bytes);
}

/** RFC 6238: HMAC-SHA-1 of the time step, six digits. */
function totp(key, step) {
  const counter = Buffer.alloc(8);
  counter.writeBigUInt64BE(BigInt(step));
  const digest = createHmac("sha1", key).update(counter).digest();
  const offset = digest[19] & 0x0f;
  return String((digest.readUInt32BE(offset) & 0x7fffffff) % 1000000).padStart(6, "0");
}

/** After the password, when the portal asks for the second factor: sets it up the first time,
 * then types the code of a time step not used yet (or a recovery code when those in reach are
 * spent), as the person would with their phone. */
export async function passSecondFactor(pageInstance, email) {
  await pageInstance.getByRole("heading", { level: 1 }).first().waitFor();
  if (!new URL(pageInstance.url()).pathname.endsWith("/double-authentification")) return;
  const kept = authenticators();
  const now = Math.floor(Date.now() / 30000);
  if ((await pageInstance.getByRole("button", { name: "Activer" }).count()) > 0) {
    const key = base32Decode(await pageInstance.locator("strong.code").innerText());
    await pageInstance.getByLabel(/^Code à six chiffres/).fill(totp(key, now));
    await pageInstance.getByRole("button", { name: "Activer" }).click();
    await pageInstance.getByRole("heading", { name: "Vos codes de secours" }).waitFor();
    const recovery = await pageInstance.locator("li.code").allInnerTexts();
    kept[email] = { key: key.toString("hex"), last: now, recovery };
    writeFileSync(authenticatorsFile, JSON.stringify(kept));
    await pageInstance.getByRole("link", { name: "J’ai gardé mes codes, continuer" }).click();
    return;
  }
  const mine = kept[email];
  const step = Math.max(mine.last + 1, now - 1);
  let code;
  if (step <= now + 1) {
    mine.last = step;
    code = totp(Buffer.from(mine.key, "hex"), step);
  } else {
    code = mine.recovery.pop();
  }
  writeFileSync(authenticatorsFile, JSON.stringify(kept));
  await pageInstance.getByLabel(/^Code/).fill(code);
  await pageInstance.getByRole("button", { name: "Valider" }).click();
  // A recovery code leads to a page that says how many are left, then on.
  await pageInstance.locator("h1:has-text('Bonjour'), a.fr-btn:has-text('Continuer')").first().waitFor();
  if ((await pageInstance.locator("a.fr-btn:has-text('Continuer')").count()) > 0) {
    await pageInstance.locator("a.fr-btn:has-text('Continuer')").click();
  }
}

/** Polls `check` every half second until it returns a value, for at most `seconds`. */
export async function eventually(check, seconds, what) {
  const until = Date.now() + seconds * 1000;
  for (;;) {
    const value = await check();
    if (value) return value;
    if (Date.now() > until) throw new Error(`still waiting after ${seconds} s for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
}

/**
 * Prints the page to `name.pdf` the way the person's browser does with "Enregistrer au format
 * PDF" (A4, the page's own print style sheet), next to the screenshots; returns the file's path.
 */
export async function printToPdf(pageInstance, name) {
  const path = join(screenshots, `${name}.pdf`);
  await pageInstance.emulateMedia({ media: "print" });
  await pageInstance.pdf({ path, preferCSSPageSize: true, printBackground: true });
  await pageInstance.emulateMedia({ media: "screen" });
  return path;
}

/** A PDF's text (of its pages up to `last`, or all) and page count, read by poppler's
 * `pdftotext` and `pdfinfo`. */
export function readPdf(path, { last } = {}) {
  const range = last ? ["-l", String(last)] : [];
  const text = execFileSync("pdftotext", ["-layout", ...range, path, "-"], { encoding: "utf8" });
  const info = execFileSync("pdfinfo", [path], { encoding: "utf8" });
  const pages = Number(/^Pages:\s+(\d+)/m.exec(info)[1]);
  return { text, pages };
}

/** What the QR codes on the first page of a PDF say, as a phone's camera reads them: the page
 * rendered by poppler's `pdftoppm`, decoded by zbar's `zbarimg`. */
export function readQrCodes(path) {
  const image = path.replace(/\.pdf$/, "-page1");
  execFileSync("pdftoppm", ["-r", "150", "-f", "1", "-l", "1", "-singlefile", "-png", path, image]);
  const found = execFileSync("zbarimg", ["--quiet", "--raw", `${image}.png`], { encoding: "utf8" });
  return found.split("\n").filter((line) => line.length > 0);
}
