//! The storage story, told once and run on SQLite and on a real PostgreSQL.

use crate::common::TestDatabase;
use drydock::{
    db::{users, users::NewUser, users::Role, Backend, Db},
    error::Error,
};

async fn accounts_story(backend: Backend) {
    let test_db = TestDatabase::of(backend).await;
    let db = Db::connect(&test_db.url).await.expect("connect");
    assert_eq!(db.backend(), backend);
    db.migrate().await.expect("first migration");
    db.migrate().await.expect("migrating again is a no-op");
    db.ping().await.expect("ping");

    // A learner signs up …
    let before = drydock::db::now_ms();
    let ada = users::create(
        &db,
        NewUser {
            username: "Ada",
            password_hash: Some("$argon2id$…"),
            email: Some("ada@example.org"),
            role: Role::Learner,
        },
    )
    .await
    .expect("create ada");
    assert!(ada.id > 0);
    assert!(ada.created_at >= before && ada.created_at <= drydock::db::now_ms());
    assert_eq!(ada.role, Role::Learner);

    // … nobody can take the same name in another case …
    let taken = users::create(
        &db,
        NewUser {
            username: "ada",
            password_hash: None,
            email: None,
            role: Role::Guest,
        },
    )
    .await
    .expect_err("duplicate username");
    assert!(
        matches!(taken, Error::Conflict(ref m) if m.contains("already taken")),
        "{taken:?}"
    );

    // … a guest without a password is fine …
    let guest = users::create(
        &db,
        NewUser {
            username: "guest-4f2a",
            password_hash: None,
            email: None,
            role: Role::Guest,
        },
    )
    .await
    .expect("create guest");
    assert_eq!(guest.password_hash, None);

    // … she is found by name in any case, and by id …
    let found = users::by_username(&db, "ADA")
        .await
        .unwrap()
        .expect("found by name");
    assert_eq!(found, ada);
    assert_eq!(
        users::by_id(&db, ada.id).await.unwrap().as_ref(),
        Some(&ada)
    );
    assert_eq!(users::by_username(&db, "nobody").await.unwrap(), None);

    // … and becomes an instructor.
    users::set_role(&db, ada.id, Role::Instructor)
        .await
        .unwrap();
    assert_eq!(
        users::by_id(&db, ada.id).await.unwrap().unwrap().role,
        Role::Instructor
    );
    assert!(matches!(
        users::set_role(&db, 9_999_999, Role::Admin).await,
        Err(Error::NotFound(_))
    ));
    assert_eq!(users::count(&db).await.unwrap(), 2);

    // The schema itself refuses a role that does not exist.
    let bad = sqlx::query("INSERT INTO users (username, role, created_at) VALUES ($1, $2, $3)")
        .bind("mallory")
        .bind("superuser")
        .bind(0_i64)
        .execute(db.pool())
        .await;
    assert!(
        bad.is_err(),
        "the CHECK constraint must reject unknown roles"
    );

    db.close().await;
    eprintln!("storage story passed on {}", backend.name());
}

#[tokio::test]
async fn accounts_story_on_sqlite() {
    accounts_story(Backend::Sqlite).await;
}

#[tokio::test]
async fn accounts_story_on_postgres() {
    accounts_story(Backend::Postgres).await;
}

#[tokio::test]
async fn a_missing_sqlite_file_and_directory_are_created() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("nested/deeper/drydock.db");
    let db = Db::connect(&format!("sqlite://{}", path.display()))
        .await
        .expect("connect");
    db.migrate().await.unwrap();
    assert!(path.is_file());
}

#[tokio::test]
async fn an_unreachable_postgres_is_a_clear_error() {
    // Port 1 on loopback: nothing listens there.
    let err = Db::connect("postgres://postgres@127.0.0.1:1/none")
        .await
        .expect_err("must fail");
    assert!(matches!(err, Error::Database(_)), "{err:?}");
}
