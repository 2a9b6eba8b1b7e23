// Pass Numérique's public side in Auvergne-Rhône-Alpes: a person reads the awareness kit on a
// phone, keeps their list, sends « Je développe mes compétences numériques », and the EPN's
// animator accepts the request from the portal's inbox.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { baseUrl, browser, page, parisTimeAgo, parisToday, screenshot } from "./support.mjs";

const kit = `${baseUrl}/territoires/auvergne-rhone-alpes/pass-numerique`;
let chromium;

before(async () => {
  chromium = await browser();
});

after(async () => {
  await chromium?.close();
});

test("a person reads the kit on a phone, keeps a list and sends a request", async () => {
  const person = await page(chromium, { phone: true });
  await person.goto(kit);
  await person.getByRole("heading", { level: 1, name: /kit de sensibilisation/ }).waitFor();
  await screenshot(person, "public-kit");

  // The design system draws the box on the label, which the person taps.
  await person.getByText("Se connecter avec FranceConnect", { exact: true }).click();
  await person.getByText("Se protéger des arnaques", { exact: true }).click();
  assert.equal(await person.getByLabel("Se connecter avec FranceConnect").isChecked(), true);
  await person.getByLabel("Votre code postal").fill("07100");
  await person.getByRole("button", { name: "Voir ma liste" }).click();
  await person.getByRole("heading", { level: 1, name: "Ma liste pour apprendre le numérique" }).waitFor();
  const list = await person.locator("main").innerText();
  assert.match(list, /Se connecter avec FranceConnect/);
  assert.match(list, /Se protéger des arnaques/);
  assert.doesNotMatch(list, /Chercher sur internet/);
  assert.match(list, /EPN d'Annonay/);
  assert.match(person.url(), /module=5/, "the list's address holds the choice");
  await screenshot(person, "public-kit-list");

  await person.getByRole("link", { name: "Faire ma demande" }).click();
  await person.getByRole("heading", { level: 1, name: "Je développe mes compétences numériques" }).waitFor();
  await person.getByLabel("Prénom").fill("Mireille");
  await person.getByLabel(/^Nom/).fill("Chazal");
  await person.getByLabel("Année de naissance").fill("1956");
  await person.getByRole("textbox", { name: /^Code postal/ }).fill("07100");
  await person.getByLabel("Commune").fill("Annonay");
  await person.getByLabel("Téléphone").fill("04 75 67 00 00");
  await person.getByLabel("Où souhaitez-vous être accompagné(e) ?").selectOption({ label: "EPN d'Annonay" });
  await person.getByLabel("Ce que vous voulez apprendre").fill("Prendre rendez-vous chez le médecin en ligne");
  await screenshot(person, "public-request-form");
  // A person takes a few seconds to read before sending; a robot that posts at once is asked again.
  await new Promise((resolve) => setTimeout(resolve, 3200));
  await person.getByRole("button", { name: "Envoyer ma demande" }).click();
  await person.getByRole("heading", { level: 1, name: "Votre demande est envoyée" }).waitFor();
  assert.match(await person.locator("main").innerText(), /EPN d'Annonay vous appellera ou vous écrira/);
  await screenshot(person, "public-request-receipt");
});

test("the EPN's animator accepts the request from the inbox", async () => {
  const animator = await page(chromium, { phone: true });
  await animator.goto(`${baseUrl}/portail/auvergne-rhone-alpes/connexion`);
  await animator.getByLabel("Adresse électronique").fill("epn@auvergne-rhone-alpes.example");
  await animator.getByLabel("Mot de passe").fill("demo-passerelle");
  await animator.getByRole("button", { name: "Se connecter" }).click();
  await animator.getByRole("heading", { level: 1 }).filter({ hasText: "Bonjour" }).waitFor();
  await animator.getByRole("link", { name: "Demandes d’accompagnement" }).click();
  const newest = animator.locator("section.fr-card").first();
  await newest.waitFor();
  assert.match(await newest.innerText(), /Mireille Chazal/, "the newest request is first");
  assert.match(await newest.innerText(), /Prendre rendez-vous chez le médecin en ligne/);
  await screenshot(animator, "epn-requests");

  await newest.getByLabel("Code INSEE de la commune de la personne").fill("07010");
  await newest.getByRole("button", { name: /Accepter/ }).click();
  const notice = animator.getByRole("status");
  await notice.waitFor();
  assert.match(await notice.innerText(), /Demande acceptée : le chèque ARA-[0-9A-Z-]+ est émis et inscrit dans l’EPN/);
  await screenshot(animator, "epn-requests-accepted");
  const reference = (await notice.innerText()).match(/ARA-[0-9A-Z]{4}-[0-9A-Z]{4}-[0-9A-Z]/)[0];

  // The person comes: the animator plans the accompaniment as it starts and ticks them present.
  await animator.goto(`${baseUrl}/portail/auvergne-rhone-alpes/epn`);
  await animator.getByLabel(/^Date/).fill(parisToday());
  await animator.getByLabel(/^Heure de début/).fill(parisTimeAgo(5));
  await animator.getByLabel(/^Nombre de places/).fill("1");
  await animator.getByRole("button", { name: "Planifier la séance" }).click();
  await animator.getByRole("heading", { level: 1, name: "Feuille de présence" }).waitFor();
  const card = animator.locator(".personne").filter({ hasText: "Mireille Chazal" });
  await card.getByLabel(/^Présent/).check({ force: true });
  await animator.getByRole("button", { name: "Enregistrer la feuille" }).click();
  await animator.getByText(`${reference} noté présent ; il reste`).waitFor();
});
