use chrono::{NaiveDate, TimeZone, Utc};
use passerelle_core::audit::Actor;
use passerelle_core::statistics;
use passerelle_core::tenancy::tenants::TenantKind;
use passerelle_test_support::{TestDatabase, active_ticket_net, create_tenant};

#[tokio::test]
async fn the_first_night_of_a_year_asks_once_for_the_month_quarter_and_year_that_ended() {
    let db = TestDatabase::create().await;
    let tenant = create_tenant(&db.app, "lot", TenantKind::Departement, "46").await;
    let scheme_id = active_ticket_net(
        &db.app,
        tenant.id,
        None,
        NaiveDate::from_ymd_opt(2026, 1, 1),
    )
    .await;
    // 00:30 in Paris on 1 January 2027 is still 31 December in UTC.
    let night = Utc.with_ymd_and_hms(2026, 12, 31, 23, 30, 0).unwrap();
    let created = statistics::schedule_ended_periods(&db.app, tenant.id, night)
        .await
        .expect("schedule");
    assert_eq!(created.len(), 3);
    let again = statistics::schedule_ended_periods(&db.app, tenant.id, night)
        .await
        .expect("schedule again");
    assert!(again.is_empty(), "asked twice for the same periods");
    let mut periods: Vec<String> = statistics::list(&db.app, tenant.id, &Default::default(), true)
        .await
        .expect("list")
        .iter()
        .map(|(e, files)| {
            assert!(files.is_empty());
            assert_eq!(
                (e.origin.as_str(), e.status.as_str(), e.scheme_id),
                ("scheduled", "queued", scheme_id)
            );
            e.period().label()
        })
        .collect();
    periods.sort();
    assert_eq!(periods, ["2026", "2026-12", "2026-T4"]);

    // On demand, a period may be asked for again; a malformed one is refused with the reason.
    statistics::request(&db.app, tenant.id, Actor::SYSTEM, scheme_id, "2026-T4")
        .await
        .expect("on demand");
    let refused =
        statistics::request(&db.app, tenant.id, Actor::SYSTEM, scheme_id, "T4-2026").await;
    assert!(
        matches!(&refused, Err(passerelle_core::Error::Invalid(e)) if e[0].field == "period"),
        "{refused:?}"
    );
}
