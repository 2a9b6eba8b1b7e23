//! Portal account emails: an invitation and a password reset leave by SMTP with a single-use link,
//! and the link sets the password the person then signs in with.

use std::time::Duration;

use passerelle_core::audit::Actor;
use passerelle_core::emails::status::EmailStatus;
use passerelle_core::tenancy::Role;
use passerelle_core::tenancy::account_links;
use passerelle_core::tenancy::accounts::{self, SignIn};
use passerelle_core::tenancy::users::{self, NewUser};

use crate::harness::{Harness, Mail};

/// The secret at the end of the portal link in a message, checked in both parts.
fn link_secret(mail: &Mail, slug: &str) -> String {
    let prefix = format!("https://passerelle.example.fr/portail/{slug}/mot-de-passe/");
    let from_text = mail
        .text
        .split_whitespace()
        .find_map(|word| word.strip_prefix(&prefix))
        .unwrap_or_else(|| panic!("no link in:\n{}", mail.text))
        .to_owned();
    // HTML escapes `/` as `&#x2f;`: compare what a mail reader displays.
    assert!(
        mail.html
            .replace("&#x2f;", "/")
            .contains(&format!("{prefix}{from_text}")),
        "the HTML part has another link:\n{}",
        mail.html
    );
    from_text
}

#[tokio::test]
async fn an_invited_user_chooses_a_password_from_the_email_and_a_reset_link_works_once() {
    let h = Harness::new().await;
    let db = &h.db.app;
    let tenant_id = h.tenant.id;
    let user = users::create(
        db,
        tenant_id,
        &NewUser {
            email: "comptable@lot.example".into(),
            display_name: "Claire Fabre".into(),
            role: Role::Finance,
            prescriber_id: None,
            epn_id: None,
        },
    )
    .await
    .expect("user");
    account_links::invite(db, tenant_id, Actor::SYSTEM, user.id)
        .await
        .expect("invite");
    // Asked twice before it leaves: one email.
    account_links::invite(db, tenant_id, Actor::SYSTEM, user.id)
        .await
        .expect("invite again");
    // An unknown address gets nothing, and the caller cannot tell.
    account_links::request_reset(db, tenant_id, "inconnu@lot.example")
        .await
        .expect("unknown address");

    let worker = h.start_worker();
    let received = h.smtp.wait_for(1, Duration::from_secs(20)).await;
    assert_eq!(received.len(), 1);
    let invitation = Mail::parse(&received[0]);
    assert_eq!(invitation.to, vec!["comptable@lot.example".to_owned()]);
    assert!(
        invitation.subject.contains("votre accès à Passerelle"),
        "{}",
        invitation.subject
    );
    for needle in [
        "Bonjour Claire Fabre",
        "gestionnaire financier",
        "valable jusqu’au",
    ] {
        assert!(
            invitation.text.contains(needle),
            "`{needle}` missing:\n{}",
            invitation.text
        );
    }
    assert!(invitation.header("List-Unsubscribe").is_none());
    let secret = link_secret(&invitation, &h.tenant.slug);
    // The link is written in the sending transaction, which commits just after the mail server
    // has taken the message: wait for that commit, as a person reading their mail always does.
    h.wait_outbox("the invitation sent", |m| m.status == EmailStatus::Sent)
        .await;

    let holder = account_links::check(db, tenant_id, &secret)
        .await
        .expect("check")
        .expect("a valid link");
    assert_eq!(holder.user_id, user.id);
    assert_eq!(holder.purpose, "invitation");
    assert!(
        account_links::use_link(db, tenant_id, &secret, "court")
            .await
            .is_err(),
        "a short password is refused"
    );
    let password = "le-causse-de-gramat-au-printemps";
    assert!(
        account_links::use_link(db, tenant_id, &secret, password)
            .await
            .expect("use")
            .is_some()
    );
    assert!(
        account_links::use_link(db, tenant_id, &secret, "un-autre-mot-de-passe")
            .await
            .expect("use again")
            .is_none(),
        "a link works once"
    );
    let signed_in = accounts::sign_in(db, tenant_id, "comptable@lot.example", password)
        .await
        .expect("sign in");
    assert!(matches!(signed_in, SignIn::Opened(_)));

    // Forgotten: the reset link sets a new password, and the old one stops working.
    account_links::request_reset(db, tenant_id, "Comptable@Lot.example")
        .await
        .expect("reset");
    let received = h.smtp.wait_for(2, Duration::from_secs(20)).await;
    let reset = Mail::parse(&received[1]);
    let sent = h
        .wait_outbox("both sent", |m| m.status == EmailStatus::Sent)
        .await;
    assert_eq!(sent.len(), 2);
    assert!(sent.iter().all(|m| m.user_id == Some(user.id)));
    assert!(
        reset.subject.contains("nouveau mot de passe"),
        "{}",
        reset.subject
    );
    let secret = link_secret(&reset, &h.tenant.slug);
    let new_password = "les-noyers-de-la-vallee-du-lot";
    account_links::use_link(db, tenant_id, &secret, new_password)
        .await
        .expect("use")
        .expect("a valid link");
    assert!(matches!(
        accounts::sign_in(db, tenant_id, "comptable@lot.example", password)
            .await
            .expect("old password"),
        SignIn::Refused
    ));
    assert!(matches!(
        accounts::sign_in(db, tenant_id, "comptable@lot.example", new_password)
            .await
            .expect("new password"),
        SignIn::Opened(_)
    ));

    // A disabled user is not invited again.
    users::disable(db, tenant_id, user.id)
        .await
        .expect("disable");
    assert!(
        account_links::invite(db, tenant_id, Actor::SYSTEM, user.id)
            .await
            .is_err()
    );

    worker.stop().await;
    h.assert_no_job_left_behind().await;
    h.drop_queues().await;
}
