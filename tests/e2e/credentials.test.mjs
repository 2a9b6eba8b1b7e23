// A holder takes, from their own space, an Open Badges credential of a competence they reached,
// downloads its file and opens its verification link, which says it is valid; someone they give
// the file to pastes it on the territory's verification page.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import {
  api,
  baseUrl,
  browser,
  checkAccessibility,
  issueVoucher,
  lotScheme,
  page,
  parisMinutesSinceMidnight,
  registerAtDemoEpn,
  screenshot,
} from "./support.mjs";

let chromium;

before(async () => {
  chromium = await browser();
});

after(async () => {
  await chromium?.close();
});

/**
 * A session attended earlier today at the demo EPN, where a competence was recorded: away from
 * the sessions of the hour, which the phone's tests find by how near they are.
 */
async function attendedEarlierToday(reference, lastName) {
  const scheme = await lotScheme();
  await registerAtDemoEpn(reference, lastName);
  const minutesAgo = Math.max(1, Math.min(8 * 60, parisMinutesSinceMidnight() - 5));
  const session = await api(
    "POST",
    "/v1/sessions",
    "EPN_LOT",
    { scheme_id: scheme.id, module_number: 1, starts_at: new Date(Date.now() - minutesAgo * 60_000).toISOString(), capacity: 8 },
    201,
  );
  await api("POST", `/v1/sessions/${session.id}/attendance`, "EPN_LOT", {
    entries: [{ reference, status: "present", competences: [{ code: "2.1", level: "practised" }] }],
  });
}

test("a holder downloads a credential from the portfolio and its verification page says it is valid", async () => {
  const reference = await issueVoucher("Ginette", "Cabanès");
  await attendedEarlierToday(reference, "Cabanès");
  const link = await api("POST", `/v1/vouchers/${reference}/portfolio-link`, "EPN_LOT", {}, 201);

  const holder = await page(chromium, { phone: true });
  await holder.goto(baseUrl + link.url);
  await holder.getByRole("heading", { level: 2, name: "Mes attestations" }).waitFor();
  await checkAccessibility(holder, "holder-credentials");
  await screenshot(holder, "holder-credentials");

  // Named by their email, masked.
  // The design system draws the radio on its label, which takes the click.
  await holder.locator("label[for=\"identite-courriel\"]").click();
  assert.ok(await holder.getByLabel(/Avec mon adresse e-mail, masquée/).isChecked());
  await holder.getByLabel(/Mon adresse e-mail/).fill("ginette.cabanes@example.org");
  await holder.getByRole("button", { name: "Obtenir l’attestation" }).first().click();
  await holder.getByRole("heading", { level: 1, name: "Mon attestation" }).waitFor();
  assert.match(await holder.locator("main").innerText(), /Compétence numérique 2\.1 pratiquée/);
  await checkAccessibility(holder, "holder-credential");
  await screenshot(holder, "holder-credential");

  const [download] = await Promise.all([
    holder.waitForEvent("download"),
    holder.getByRole("link", { name: /Télécharger le fichier/ }).click(),
  ]);
  assert.equal(download.suggestedFilename(), "attestation-crcn-2.1-practised.jwt");
  const jwt = readFileSync(await download.path(), "utf8");
  assert.equal(jwt.split(".").length, 3, "a compact JWS");
  const payload = JSON.parse(Buffer.from(jwt.split(".")[1], "base64url").toString("utf8"));
  assert.deepEqual(payload.type, ["VerifiableCredential", "OpenBadgeCredential"]);
  assert.ok(!jwt.includes("Cabanès") && !JSON.stringify(payload).includes("Cabanès"));

  // The verification link, as the person they give it to opens it.
  const verificationUrl = await holder.locator("#verification-link").getAttribute("href");
  assert.equal(verificationUrl, payload.id);
  const verifier = await page(chromium);
  await verifier.goto(verificationUrl);
  const verdict = verifier.locator("#verdict");
  await verdict.waitFor();
  assert.match(await verdict.innerText(), /Attestation valide/);
  const text = await verifier.locator("main").innerText();
  assert.match(text, /Compétence numérique 2\.1 pratiquée/);
  assert.match(text, /sha256\$/);
  await checkAccessibility(verifier, "credential-verification");
  await screenshot(verifier, "credential-verification");

  // The file itself, pasted on the territory's verification page.
  await verifier.goto(`${baseUrl}/attestations/lot`);
  await verifier.getByLabel(/Contenu du fichier/).fill(jwt);
  await verifier.getByRole("button", { name: "Vérifier" }).click();
  await verifier.locator("#verdict").waitFor();
  assert.match(await verifier.locator("#verdict").innerText(), /Attestation valide/);
  await screenshot(verifier, "credential-pasted");
});
