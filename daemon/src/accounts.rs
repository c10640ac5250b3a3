//! Researchers' accounts on this node: who may log in to its web listener.
//!
//! An account is a person's name. `kp user add` (or `kp user login`) gives a
//! one-time login token; redeeming it (the web page's login link, or a program's
//! `POST /api/login`) gives a session secret, which a browser keeps in an
//! HttpOnly cookie and a program sends with its WebSocket URL. Only SHA-256
//! hashes of tokens and secrets are stored: both are 256 random bits, so a fast
//! hash is enough (there are no passwords to guess). A login token lasts
//! [`LOGIN_DAYS`] days and one use; a session lasts [`SESSION_DAYS`] days from
//! its last use. Removing an account ends its sessions at once: every
//! connection re-checks its session when [`Accounts::ended`] ticks.
//!
//! The accounts are one value in the node's store (an institution has tens or
//! hundreds of people), written durably on every change.

use std::collections::BTreeMap;
use std::sync::Mutex;

use ring::digest::{SHA256, digest};
use ring::rand::{SecureRandom, SystemRandom};
use serde::{Deserialize, Serialize};

use kp_repo::{Repo, RepoError, now_secs};

/// Days a login token may wait to be used.
pub(crate) const LOGIN_DAYS: i64 = 7;
/// Days a session lasts after its last use.
pub(crate) const SESSION_DAYS: i64 = 30;
const DAY: i64 = 86_400;
/// Sessions kept per account; the least recently used goes beyond this.
const MAX_SESSIONS: usize = 32;
const KEY: &[u8] = b"accounts";
/// Prefix of login tokens and session secrets, so that a secret pasted
/// somewhere is recognisable.
const TOKEN_PREFIX: &str = "kpl_";
const SESSION_PREFIX: &str = "kps_";

/// Why an account operation failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub(crate) enum AccountError {
    /// No such account.
    #[error("no account named {0:?} on this node; `kp user list` shows them")]
    Unknown(String),
    /// The name is taken.
    #[error("an account named {0:?} exists already; `kp user login {0:?}` gives it a new login")]
    Exists(String),
    /// The name is not usable.
    #[error("{0}")]
    BadName(String),
    /// The token or secret is not (or no longer) valid.
    #[error(
        "this login is not valid: it was used already, has expired, or its account was removed; ask the node's operator for a new one (`kp user login NAME`)"
    )]
    BadLogin,
    /// The store failed.
    #[error(transparent)]
    Repo(#[from] RepoError),
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct Book {
    accounts: BTreeMap<String, Account>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Account {
    created: i64,
    /// The unused login token, if any.
    login: Option<Secret>,
    sessions: Vec<Secret>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Secret {
    /// Hex SHA-256 of the secret.
    hash: String,
    created: i64,
    /// Last use (a login: when it was made).
    used: i64,
}

/// An account as `kp user list` shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct AccountInfo {
    pub(crate) name: String,
    pub(crate) created: i64,
    pub(crate) sessions: usize,
    /// A login token is waiting to be used (it expires then).
    pub(crate) login_expires: Option<i64>,
    /// The last use of any of its sessions.
    pub(crate) last_seen: Option<i64>,
}

/// The node's accounts.
#[derive(Debug)]
pub(crate) struct Accounts {
    repo: Repo,
    book: Mutex<Book>,
    ended: tokio::sync::watch::Sender<u64>,
    rng: SystemRandom,
}

fn hash(secret: &str) -> String {
    digest(&SHA256, secret.as_bytes())
        .as_ref()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Checks an account name: a person's name, as a space names its people.
pub(crate) fn check_name(name: &str) -> Result<(), AccountError> {
    kp_model::space::check_person_name(name).map_err(|e| AccountError::BadName(e.to_string()))
}

impl Accounts {
    /// The accounts kept in `repo`'s store.
    pub(crate) fn open(repo: Repo) -> Result<Self, AccountError> {
        let book = match repo.get_meta(KEY)? {
            Some(bytes) => serde_json::from_slice(&bytes).map_err(|e| {
                AccountError::Repo(RepoError::NotDurable(format!(
                    "the stored accounts do not read: {e}"
                )))
            })?,
            None => Book::default(),
        };
        Ok(Self {
            repo,
            book: Mutex::new(book),
            ended: tokio::sync::watch::channel(0).0,
            rng: SystemRandom::new(),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Book> {
        self.book.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Writes `book` durably, then makes it the accounts: a failed write
    /// changes nothing.
    fn save(&self, held: &mut Book, book: Book) -> Result<(), AccountError> {
        let bytes = serde_json::to_vec(&book).expect("accounts serialise");
        self.repo.put_meta(KEY, bytes)?;
        *held = book;
        Ok(())
    }

    fn secret(&self, prefix: &str) -> String {
        let mut bytes = [0u8; 32];
        self.rng
            .fill(&mut bytes)
            .expect("the system's random generator works");
        format!("{prefix}{}", bs58::encode(bytes).into_string())
    }

    /// Makes an account; returns its login token.
    pub(crate) fn add(&self, name: &str) -> Result<String, AccountError> {
        check_name(name)?;
        let mut held = self.lock();
        if held.accounts.contains_key(name) {
            return Err(AccountError::Exists(name.into()));
        }
        let token = self.secret(TOKEN_PREFIX);
        let now = now_secs();
        let mut book = held.clone();
        book.accounts.insert(
            name.into(),
            Account {
                created: now,
                login: Some(Secret {
                    hash: hash(&token),
                    created: now,
                    used: now,
                }),
                sessions: Vec::new(),
            },
        );
        self.save(&mut held, book)?;
        Ok(token)
    }

    /// A new login token for an account (an unused earlier one stops working).
    pub(crate) fn new_login(&self, name: &str) -> Result<String, AccountError> {
        let mut held = self.lock();
        let mut book = held.clone();
        let account = book
            .accounts
            .get_mut(name)
            .ok_or_else(|| AccountError::Unknown(name.into()))?;
        let token = self.secret(TOKEN_PREFIX);
        let now = now_secs();
        account.login = Some(Secret {
            hash: hash(&token),
            created: now,
            used: now,
        });
        self.save(&mut held, book)?;
        Ok(token)
    }

    /// Removes an account and ends its sessions; returns how many it had.
    pub(crate) fn remove(&self, name: &str) -> Result<usize, AccountError> {
        let mut held = self.lock();
        let mut book = held.clone();
        let gone = book
            .accounts
            .remove(name)
            .ok_or_else(|| AccountError::Unknown(name.into()))?;
        self.save(&mut held, book)?;
        drop(held);
        self.ended.send_modify(|n| *n += 1);
        Ok(gone.sessions.len())
    }

    /// Every account, by name.
    pub(crate) fn list(&self) -> Vec<AccountInfo> {
        let now = now_secs();
        self.lock()
            .accounts
            .iter()
            .map(|(name, a)| AccountInfo {
                name: name.clone(),
                created: a.created,
                sessions: a
                    .sessions
                    .iter()
                    .filter(|s| s.used + SESSION_DAYS * DAY > now)
                    .count(),
                login_expires: a
                    .login
                    .as_ref()
                    .map(|l| l.created + LOGIN_DAYS * DAY)
                    .filter(|&t| t > now),
                last_seen: a.sessions.iter().map(|s| s.used).max(),
            })
            .collect()
    }

    /// Redeems a login token: it stops working, and a session secret is made
    /// for its account. Returns the account's name and the secret.
    pub(crate) fn redeem(&self, token: &str) -> Result<(String, String), AccountError> {
        let h = hash(token.trim());
        let now = now_secs();
        let mut held = self.lock();
        let name = held
            .accounts
            .iter()
            .find(|(_, a)| {
                a.login
                    .as_ref()
                    .is_some_and(|l| l.hash == h && l.created + LOGIN_DAYS * DAY > now)
            })
            .map(|(n, _)| n.clone())
            .ok_or(AccountError::BadLogin)?;
        let secret = self.secret(SESSION_PREFIX);
        let mut book = held.clone();
        let account = book.accounts.get_mut(&name).expect("found above");
        account.login = None;
        account
            .sessions
            .retain(|s| s.used + SESSION_DAYS * DAY > now);
        account.sessions.push(Secret {
            hash: hash(&secret),
            created: now,
            used: now,
        });
        if account.sessions.len() > MAX_SESSIONS {
            account.sessions.sort_by_key(|s| std::cmp::Reverse(s.used));
            account.sessions.truncate(MAX_SESSIONS);
        }
        self.save(&mut held, book)?;
        Ok((name, secret))
    }

    /// The account a session secret belongs to, if it is valid now. A use
    /// renews the session (written at most once an hour).
    pub(crate) fn session(&self, secret: &str) -> Option<String> {
        let h = hash(secret.trim());
        let now = now_secs();
        let mut held = self.lock();
        let (name, stale) = held.accounts.iter().find_map(|(n, a)| {
            a.sessions
                .iter()
                .find(|s| s.hash == h && s.used + SESSION_DAYS * DAY > now)
                .map(|s| (n.clone(), now - s.used > 3600))
        })?;
        if stale {
            let mut book = held.clone();
            if let Some(s) = book
                .accounts
                .get_mut(&name)
                .and_then(|a| a.sessions.iter_mut().find(|s| s.hash == h))
            {
                s.used = now;
            }
            // A session that could not be renewed is still valid now.
            if let Err(e) = self.save(&mut held, book) {
                tracing::warn!("could not renew a session: {e}");
            }
        }
        Some(name)
    }

    /// Ends one session (logging out).
    pub(crate) fn end_session(&self, secret: &str) -> Result<(), AccountError> {
        let h = hash(secret.trim());
        let mut held = self.lock();
        let mut book = held.clone();
        for a in book.accounts.values_mut() {
            a.sessions.retain(|s| s.hash != h);
        }
        self.save(&mut held, book)?;
        drop(held);
        self.ended.send_modify(|n| *n += 1);
        Ok(())
    }

    /// Ticks whenever sessions end (an account removed, a logout): a
    /// connection then checks that its own session is still valid.
    pub(crate) fn ended(&self) -> tokio::sync::watch::Receiver<u64> {
        self.ended.subscribe()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kp_repo::RepoConfig;
    use kp_store::SledStore;

    fn accounts(dir: &std::path::Path) -> Accounts {
        let store = SledStore::open(&dir.join("store"), 1 << 20).unwrap();
        let key = kp_core::identity::NodeKey::from_seed([3; 32]);
        let repo = Repo::open(std::sync::Arc::new(store), key, RepoConfig::default()).unwrap();
        Accounts::open(repo).unwrap()
    }

    #[test]
    fn a_login_is_used_once_and_a_session_ends_with_its_account() {
        let dir = tempfile::tempdir().unwrap();
        let a = accounts(dir.path());
        let token = a.add("Amina Diallo").unwrap();
        assert!(matches!(
            a.add("Amina Diallo"),
            Err(AccountError::Exists(_))
        ));
        let (name, secret) = a.redeem(&token).unwrap();
        assert_eq!(name, "Amina Diallo");
        assert!(matches!(a.redeem(&token), Err(AccountError::BadLogin)));
        assert_eq!(a.session(&secret).as_deref(), Some("Amina Diallo"));
        assert_eq!(a.session("kps_nothing"), None);
        // Only hashes are kept.
        let stored = String::from_utf8(a.repo.get_meta(KEY).unwrap().unwrap()).unwrap();
        assert!(!stored.contains(&secret[4..]) && !stored.contains(&token[4..]));
        let mut ended = a.ended();
        assert_eq!(a.remove("Amina Diallo").unwrap(), 1);
        assert!(ended.has_changed().unwrap());
        ended.mark_unchanged();
        assert_eq!(a.session(&secret), None);
        assert!(matches!(
            a.remove("Amina Diallo"),
            Err(AccountError::Unknown(_))
        ));
    }

    #[test]
    fn a_new_login_replaces_the_unused_one_and_accounts_survive_a_restart() {
        let dir = tempfile::tempdir().unwrap();
        let (old, new) = {
            let a = accounts(dir.path());
            let old = a.add("Bo").unwrap();
            let new = a.new_login("Bo").unwrap();
            assert!(matches!(a.new_login("Cy"), Err(AccountError::Unknown(_))));
            a.repo.shutdown();
            (old, new)
        };
        let a = accounts(dir.path());
        assert!(matches!(a.redeem(&old), Err(AccountError::BadLogin)));
        assert_eq!(a.redeem(&new).unwrap().0, "Bo");
        let list = a.list();
        assert_eq!(list.len(), 1);
        assert_eq!((list[0].sessions, list[0].login_expires), (1, None));
    }

    #[test]
    fn names_are_one_line_of_bounded_length() {
        for bad in ["", " ", " Ann", "Ann\n", "a@b", &"x".repeat(101)] {
            assert!(check_name(bad).is_err(), "{bad:?}");
        }
        check_name("María José Núñez-O'Brien").unwrap();
    }
}
