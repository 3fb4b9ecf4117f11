//! What the accounts area does, independent of how it is called (JSON API,
//! server functions, CLI).

use rand::{distributions::Alphanumeric, Rng};
use tower_sessions::Session;

use super::{
    guard::{bind_session, session_user},
    password,
};
use crate::{
    db::{
        audit::{self, AuditEvent},
        users::{self, NewUser, Role, User},
        workshops,
    },
    error::{Error, Result},
    state::AppState,
};

/// Registration details.
#[derive(Debug, Clone, serde::Deserialize)]
pub struct Registration {
    pub username: String,
    pub password: String,
    #[serde(default)]
    pub email: Option<String>,
    /// A workshop join code: registering to join a workshop is not limited
    /// per address (a whole class may share one).
    #[serde(default)]
    pub join_code: Option<String>,
}

/// Creates an account — or, when the session belongs to a guest, turns that
/// guest into the account so their progress is kept — and logs it in.
pub async fn register(
    state: &AppState,
    session: &Session,
    ip: &str,
    form: Registration,
) -> Result<User> {
    // A class registering behind one school address brings a join code: a
    // code of a workshop that is open and has room lifts the address limit.
    let code = form
        .join_code
        .as_deref()
        .map(str::trim)
        .filter(|c| !c.is_empty());
    let joining = match code {
        Some(code) => workshops::joinable_by_code(&state.db, code, crate::db::now_ms()).await?,
        None => None,
    };
    match joining {
        // At most twice the workshop's places per window through one code.
        Some(w) => state.throttles.register_per_code.attempt_with_limit(
            &w.id,
            u32::try_from(w.max_participants.saturating_mul(2)).unwrap_or(u32::MAX),
        )?,
        None => state.throttles.register_per_ip.attempt(ip)?,
    }
    let username = form.username.trim();
    password::validate_username(username)?;
    password::validate_password(&form.password, state.config.auth.min_password_len)?;
    let email = form
        .email
        .as_deref()
        .map(str::trim)
        .filter(|e| !e.is_empty());
    if let Some(email) = email {
        password::validate_email(email)?;
    }
    if users::by_username(&state.db, username).await?.is_some() {
        return Err(Error::Conflict(format!(
            "The username {username:?} is already taken."
        )));
    }
    let hash = password::hash(&form.password).await?;
    let current = session_user(&state.db, session).await?;
    let user = match current {
        Some(guest) if guest.role == Role::Guest => {
            users::claim_guest(&state.db, guest.id, username, &hash, email).await?
        }
        _ => {
            users::create(
                &state.db,
                NewUser {
                    username,
                    password_hash: Some(&hash),
                    email,
                    role: Role::Learner,
                },
            )
            .await?
        }
    };
    bind_session(session, &user).await?;
    audit::record_user(&state.db, AuditEvent::Registered, &user, Some(ip), "").await?;
    Ok(user)
}

/// Checks credentials (throttled per IP and per username) and logs the user
/// in under a new session id. A guest's work moves to the account.
pub async fn login(
    state: &AppState,
    session: &Session,
    ip: &str,
    username: &str,
    password: &str,
) -> Result<User> {
    let username = username.trim();
    // Failures wait per username *and* address: someone guessing from
    // elsewhere never locks the owner out of their account.
    let failure_key = format!("{}|{ip}", username.to_ascii_lowercase());
    let throttled = state
        .throttles
        .login_per_ip
        .attempt(ip)
        .and_then(|()| state.throttles.login_failures.check(&failure_key));
    if let Err(err) = throttled {
        audit::record(
            &state.db,
            AuditEvent::LoginThrottled,
            None,
            Some(username),
            Some(ip),
            "",
        )
        .await?;
        return Err(err);
    }
    let found = users::by_username(&state.db, username).await?;
    let hash = found.as_ref().and_then(|u| u.password_hash.as_deref());
    if !password::verify(password, hash).await {
        state.throttles.login_failures.fail(&failure_key);
        audit::record(
            &state.db,
            AuditEvent::LoginFailed,
            found.as_ref().map(|u| u.id),
            Some(username),
            Some(ip),
            "",
        )
        .await?;
        return Err(Error::InvalidCredentials);
    }
    let user = found.ok_or(Error::InvalidCredentials)?;
    state.throttles.login_failures.clear(&failure_key);
    if let Some(previous) = session_user(&state.db, session).await? {
        if previous.role == Role::Guest && previous.id != user.id {
            let rules = merge_rules(state, user.id).await?;
            let dropped = users::merge_guest_into(&state.db, previous.id, user.id, &rules).await?;
            if dropped > 0 {
                tracing::info!(
                    user_id = user.id,
                    dropped,
                    "guest attempts past a limit or deadline were not carried over"
                );
            }
        }
    }
    bind_session(session, &user).await?;
    audit::record_user(&state.db, AuditEvent::LoginSucceeded, &user, Some(ip), "").await?;
    Ok(user)
}

/// Ends the session (deleting it on the server).
pub async fn logout(state: &AppState, session: &Session, ip: &str) -> Result<()> {
    if let Some(user) = session_user(&state.db, session).await? {
        audit::record_user(&state.db, AuditEvent::Logout, &user, Some(ip), "").await?;
    }
    session.flush().await?;
    Ok(())
}

/// Changes the password after checking the current one; the session id rotates.
pub async fn change_password(
    state: &AppState,
    session: &Session,
    user: &User,
    ip: &str,
    current: &str,
    new: &str,
) -> Result<()> {
    if !password::verify(current, user.password_hash.as_deref()).await {
        return Err(Error::BadRequest(
            "Your current password is not correct.".into(),
        ));
    }
    password::validate_password(new, state.config.auth.min_password_len)?;
    let hash = password::hash(new).await?;
    // Every other session of the account ends; this one is bound anew.
    let now = crate::db::now_ms();
    users::set_password_hash(&state.db, user.id, &hash, now).await?;
    bind_session(session, user).await?;
    audit::record_user(&state.db, AuditEvent::PasswordChanged, user, Some(ip), "").await?;
    Ok(())
}

/// An admin changes someone's role. Admins cannot change their own role, so
/// the last admin cannot lock everyone out by accident.
pub async fn change_role(
    state: &AppState,
    admin: &User,
    ip: &str,
    target_id: i64,
    role: Role,
) -> Result<User> {
    if target_id == admin.id {
        return Err(Error::BadRequest(
            "You cannot change your own role; ask another admin.".into(),
        ));
    }
    if role == Role::Guest {
        return Err(Error::BadRequest(
            "A registered account cannot become a guest.".into(),
        ));
    }
    let target = users::by_id(&state.db, target_id)
        .await?
        .ok_or_else(|| Error::NotFound(format!("No user with id {target_id}.")))?;
    if target.role == Role::Guest {
        return Err(Error::BadRequest(
            "Guests must register before they can be given a role.".into(),
        ));
    }
    users::set_role(&state.db, target_id, role).await?;
    let detail = format!("{} -> {} by {}", target.role, role, admin.username);
    audit::record_user(
        &state.db,
        AuditEvent::RoleChanged,
        &target,
        Some(ip),
        &detail,
    )
    .await?;
    Ok(User { role, ..target })
}

/// The rules a guest's attempts must meet when they join `user_id`'s:
/// each exercise's attempt limit, and deadlines of the user's workshops
/// that take no late work.
async fn merge_rules(state: &AppState, user_id: i64) -> Result<users::MergeRules> {
    let mut rules = users::MergeRules {
        attempts: state
            .content
            .exercises
            .iter()
            .map(|(id, e)| (id.clone(), i64::from(e.def.attempts)))
            .collect(),
        ..Default::default()
    };
    for (w, role, status) in workshops::of_user(&state.db, user_id).await? {
        if role != workshops::MemberRole::Learner
            || status != workshops::MemberStatus::Active
            || w.accept_late
        {
            continue;
        }
        for item in workshops::items(&state.db, &w.id).await? {
            if let (true, Some(deadline)) =
                (item.kind == workshops::ItemKind::Exercise, item.deadline)
            {
                let entry = rules.closed_after.entry(item.item).or_insert(deadline);
                *entry = (*entry).min(deadline);
            }
        }
    }
    Ok(rules)
}

/// A new guest identity for a first visit.
pub async fn create_guest(state: &AppState) -> Result<User> {
    let suffix: String = rand::thread_rng()
        .sample_iter(&Alphanumeric)
        .take(10)
        .map(char::from)
        .collect();
    let username = format!("guest-{}", suffix.to_ascii_lowercase());
    users::create(
        &state.db,
        NewUser {
            username: &username,
            password_hash: None,
            email: None,
            role: Role::Guest,
        },
    )
    .await
}

/// Creates an account from the command line (bootstrapping the first admin).
pub async fn create_user(
    db: &crate::db::Db,
    username: &str,
    password: &str,
    role: Role,
    min_len: usize,
) -> Result<User> {
    password::validate_username(username)?;
    password::validate_password(password, min_len)?;
    if role == Role::Guest {
        return Err(Error::BadRequest(
            "Create a learner, instructor or admin.".into(),
        ));
    }
    let hash = password::hash(password).await?;
    let user = users::create(
        db,
        NewUser {
            username,
            password_hash: Some(&hash),
            email: None,
            role,
        },
    )
    .await?;
    let detail = format!("role {role} from the command line");
    audit::record_user(db, AuditEvent::UserCreated, &user, None, &detail).await?;
    Ok(user)
}
