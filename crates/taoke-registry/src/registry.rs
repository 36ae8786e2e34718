//! The registry: fingerprints of known models in one SQLite file.
//!
//! - Default location: `$TAOKE_REGISTRY`, else `$XDG_DATA_HOME/taoke/registry.sqlite`, else
//!   `$HOME/.local/share/taoke/registry.sqlite` ([`default_path`]).
//! - Every write is one transaction; the file is in WAL mode, so a writer killed at any point
//!   leaves the old or the new state.
//! - Schema migrations: `PRAGMA user_version` holds the schema version; [`MIGRATIONS`] are
//!   applied in order, each in its own transaction. A file from a newer taoke (higher version)
//!   is refused, never rewritten. Files written by this version stay readable by later ones
//!   (a committed fixture and a test keep that promise).
//! - Packs ([`Registry::export`], [`Registry::import`]): a portable single file (a safetensors
//!   container of the entries' fingerprint files as byte tensors and their metadata as JSON),
//!   to share fingerprints of models others cannot download.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use rusqlite::{params, Connection, OptionalExtension};
use serde::{Deserialize, Serialize};

use crate::compare::Screen;
use crate::fingerprint::{Fingerprint, ALGORITHM, LEGACY_ALGORITHM, PREVIOUS_ALGORITHM};
use crate::identify::EntryRef;
use crate::{Error, Result};

/// Schema migrations, in order; `user_version` = number applied.
pub const MIGRATIONS: &[&str] = &[
    "CREATE TABLE entries (
        id INTEGER PRIMARY KEY,
        name TEXT NOT NULL UNIQUE,
        publisher TEXT,
        licence TEXT,
        source TEXT,
        kind TEXT NOT NULL,
        format TEXT,
        architecture TEXT,
        params INTEGER,
        hidden INTEGER,
        blocks INTEGER,
        tokenizer_hash TEXT,
        algorithm TEXT NOT NULL,
        added_at TEXT NOT NULL,
        screen BLOB NOT NULL,
        fingerprint BLOB NOT NULL
    );
    CREATE INDEX entries_tokenizer ON entries(tokenizer_hash);",
    // 2: the columns `identify` reads for every entry, in a table of their own, so that the
    // prescreen scan reads a few kB per entry instead of walking the pages of rows that hold
    // whole fingerprints; backfilled from `entries`, kept in step by triggers (inside the
    // writer's transaction).
    "CREATE TABLE catalog (
        id INTEGER PRIMARY KEY,
        name TEXT NOT NULL,
        publisher TEXT,
        kind TEXT NOT NULL,
        tokenizer_hash TEXT,
        algorithm TEXT NOT NULL,
        screen BLOB NOT NULL
    );
    INSERT INTO catalog (id, name, publisher, kind, tokenizer_hash, algorithm, screen)
        SELECT id, name, publisher, kind, tokenizer_hash, algorithm, screen FROM entries;
    CREATE TRIGGER catalog_insert AFTER INSERT ON entries BEGIN
        INSERT INTO catalog (id, name, publisher, kind, tokenizer_hash, algorithm, screen)
        VALUES (new.id, new.name, new.publisher, new.kind, new.tokenizer_hash, new.algorithm,
            new.screen);
    END;
    CREATE TRIGGER catalog_delete AFTER DELETE ON entries BEGIN
        DELETE FROM catalog WHERE id = old.id;
    END;
    CREATE TRIGGER catalog_update AFTER UPDATE ON entries BEGIN
        DELETE FROM catalog WHERE id = old.id;
        INSERT INTO catalog (id, name, publisher, kind, tokenizer_hash, algorithm, screen)
        VALUES (new.id, new.name, new.publisher, new.kind, new.tokenizer_hash, new.algorithm,
            new.screen);
    END;",
];

/// Pack format version.
pub const PACK_VERSION: &str = "1";

/// Environment variable naming the registry file.
pub const ENV_REGISTRY: &str = "TAOKE_REGISTRY";

/// Test hook: milliseconds to sleep inside the `add` transaction, before commit (for the
/// kill-mid-write test).
pub const ENV_TEST_PAUSE: &str = "TAOKE_REGISTRY_TEST_PAUSE_MS";

/// The default registry path.
pub fn default_path() -> PathBuf {
    if let Some(p) = std::env::var_os(ENV_REGISTRY).filter(|p| !p.is_empty()) {
        return PathBuf::from(p);
    }
    let data = std::env::var_os("XDG_DATA_HOME")
        .filter(|p| !p.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".local").join("share")))
        .unwrap_or_else(|| PathBuf::from("."));
    data.join("taoke").join("registry.sqlite")
}

/// Metadata of an entry (no fingerprint).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EntryMeta {
    /// Unique name.
    pub name: String,
    /// Publisher.
    pub publisher: Option<String>,
    /// Licence.
    pub licence: Option<String>,
    /// Where the model comes from (URL, repo id, path).
    pub source: Option<String>,
}

/// A listed entry.
#[derive(Debug, Clone, Serialize)]
pub struct Entry {
    /// Row id.
    pub id: i64,
    /// Metadata.
    #[serde(flatten)]
    pub meta: EntryMeta,
    /// `model` or `tokenizer`.
    pub kind: String,
    /// Container format of the fingerprinted model.
    pub format: Option<String>,
    /// Architecture.
    pub architecture: Option<String>,
    /// Parameter count.
    pub params: Option<i64>,
    /// Residual width.
    pub hidden: Option<i64>,
    /// Blocks.
    pub blocks: Option<i64>,
    /// Tokenizer set hash.
    pub tokenizer_hash: Option<String>,
    /// Fingerprint algorithm.
    pub algorithm: String,
    /// When added (UTC, RFC 3339).
    pub added_at: String,
    /// Fingerprint size in bytes.
    pub bytes: i64,
}

/// An open registry.
pub struct Registry {
    conn: Connection,
    path: PathBuf,
    /// An empty file with no schema (opened without creating one): reads as no entries.
    empty: bool,
}

fn now_utc() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        (rem / 60) % 60,
        rem % 60
    )
}

/// How long a writer waits for another one (the SQLite busy timeout, and the retry deadline of
/// the steps that SQLite does not retry itself).
const BUSY_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// Whether an SQLite error means another connection holds the lock.
fn is_busy(e: &rusqlite::Error) -> bool {
    matches!(
        e,
        rusqlite::Error::SqliteFailure(f, _)
            if matches!(f.code, rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked)
    )
}

/// Runs `f` again while it fails because the database is locked, until [`BUSY_TIMEOUT`]: the
/// journal-mode switch and a read that meets another process's switch or recovery are not
/// retried by SQLite's busy handler.
fn retry_busy<T>(mut f: impl FnMut() -> rusqlite::Result<T>) -> rusqlite::Result<T> {
    let deadline = std::time::Instant::now() + BUSY_TIMEOUT;
    let mut wait = std::time::Duration::from_millis(2);
    loop {
        match f() {
            Err(e) if is_busy(&e) && std::time::Instant::now() < deadline => {
                std::thread::sleep(wait);
                wait = (wait * 2).min(std::time::Duration::from_millis(50));
            }
            r => return r,
        }
    }
}

fn user_version(conn: &Connection) -> rusqlite::Result<i64> {
    conn.query_row("PRAGMA user_version", [], |r| r.get(0))
}

/// Applies the pending migrations in one IMMEDIATE transaction: the write lock is taken before
/// the version is read, so two processes opening a new file never both create the tables.
fn migrate(conn: &mut Connection) -> rusqlite::Result<()> {
    retry_busy(|| {
        let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        let version = user_version(&tx)?;
        for (i, m) in MIGRATIONS.iter().enumerate().skip(version.max(0) as usize) {
            tx.execute_batch(m)?;
            tx.pragma_update(None, "user_version", (i + 1) as i64)?;
        }
        tx.commit()
    })
}

impl Registry {
    /// Opens (creating the file and its folders if needed) the registry at `path` for
    /// writing, applying pending migrations. Any number of processes may open and write the
    /// same file at once: writes take the lock first (IMMEDIATE transactions) and wait for it
    /// up to 10 s.
    pub fn open(path: &Path) -> Result<Registry> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| Error::Io {
                file: dir.display().to_string(),
                source: e,
            })?;
        }
        Registry::connect(path, true)
    }

    /// Opens an existing registry without creating anything: for the commands that read it
    /// (`identify`, `registry list`, `export`, `compare --context-registry`) and `remove`. A
    /// missing file is an error naming it; a file of an older schema is migrated; an empty
    /// file (no schema yet) reads as a registry of no entries and is left as it is.
    pub fn open_existing(path: &Path) -> Result<Registry> {
        let file = path.display().to_string();
        match std::fs::metadata(path) {
            Ok(m) if m.is_file() => {}
            Ok(_) => {
                return Err(Error::Entry {
                    file,
                    message: "not a regular file".into(),
                })
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(Error::Entry {
                    file,
                    message: "does not exist".into(),
                })
            }
            Err(e) => return Err(Error::Io { file, source: e }),
        }
        Registry::connect(path, false)
    }

    fn connect(path: &Path, create: bool) -> Result<Registry> {
        use rusqlite::OpenFlags;
        let file = path.display().to_string();
        let sql = |e| Error::Sql {
            file: file.clone(),
            source: e,
        };
        let mut flags = OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_NO_MUTEX
            | OpenFlags::SQLITE_OPEN_URI;
        if create {
            flags |= OpenFlags::SQLITE_OPEN_CREATE;
        }
        let mut conn = Connection::open_with_flags(path, flags).map_err(sql)?;
        conn.busy_timeout(BUSY_TIMEOUT).map_err(sql)?;
        // Refuse anything that is not an SQLite database before writing to it.
        let version = retry_busy(|| user_version(&conn)).map_err(sql)?;
        if version > MIGRATIONS.len() as i64 {
            return Err(Error::Format {
                file,
                message: format!(
                    "registry schema version {version} is newer than this taoke reads ({}); upgrade taoke",
                    MIGRATIONS.len()
                ),
            });
        }
        if !create && version == 0 {
            let tables: i64 = retry_busy(|| {
                conn.query_row("SELECT count(*) FROM sqlite_master", [], |r| r.get(0))
            })
            .map_err(sql)?;
            if tables > 0 {
                return Err(Error::Format {
                    file,
                    message: "an SQLite database but not a taoke registry (no schema version)"
                        .into(),
                });
            }
            // An empty file: nothing to read, nothing written.
            return Ok(Registry {
                conn,
                path: path.to_owned(),
                empty: true,
            });
        }
        if create {
            let _: String =
                retry_busy(|| conn.query_row("PRAGMA journal_mode=WAL", [], |r| r.get(0)))
                    .map_err(sql)?;
        }
        conn.execute_batch("PRAGMA synchronous=FULL; PRAGMA foreign_keys=ON;")
            .map_err(sql)?;
        if version < MIGRATIONS.len() as i64 {
            migrate(&mut conn).map_err(sql)?;
        }
        Ok(Registry {
            conn,
            path: path.to_owned(),
            empty: false,
        })
    }

    /// Whether the file holds no registry yet (an empty file opened by [`Registry::open_existing`]).
    pub fn is_empty_file(&self) -> bool {
        self.empty
    }

    /// The registry file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn sql(&self, e: rusqlite::Error) -> Error {
        Error::Sql {
            file: self.path.display().to_string(),
            source: e,
        }
    }

    /// Schema version of the file.
    pub fn schema_version(&self) -> Result<i64> {
        self.conn
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .map_err(|e| self.sql(e))
    }

    /// Adds an entry in one transaction. With `replace`, an entry of the same name is
    /// replaced; otherwise that is an error.
    pub fn add(&mut self, meta: &EntryMeta, fp: &Fingerprint, replace: bool) -> Result<i64> {
        let bytes = fp.to_bytes()?;
        let screen = Screen::of(fp).to_bytes();
        let file = self.path.display().to_string();
        let sql = |e| Error::Sql {
            file: file.clone(),
            source: e,
        };
        if self.empty {
            return Err(Error::Entry {
                file: file.clone(),
                message: "the file holds no registry yet".into(),
            });
        }
        let tx = self
            .conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .map_err(sql)?;
        let exists: Option<i64> = tx
            .query_row(
                "SELECT id FROM entries WHERE name = ?1",
                [&meta.name],
                |r| r.get(0),
            )
            .optional()
            .map_err(sql)?;
        if exists.is_some() {
            if !replace {
                return Err(Error::Entry {
                    file,
                    message: format!("an entry named `{}` exists (use --replace)", meta.name),
                });
            }
            tx.execute("DELETE FROM entries WHERE name = ?1", [&meta.name])
                .map_err(sql)?;
        }
        let info = &fp.info;
        tx.execute(
            "INSERT INTO entries (name, publisher, licence, source, kind, format, architecture,
                params, hidden, blocks, tokenizer_hash, algorithm, added_at, screen, fingerprint)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15)",
            params![
                meta.name,
                meta.publisher,
                meta.licence,
                meta.source,
                if fp.has_weights() {
                    "model"
                } else {
                    "tokenizer"
                },
                info.format,
                info.architecture,
                info.params as i64,
                info.hidden.map(|h| h as i64),
                i64::from(info.blocks),
                info.tokenizer.as_ref().map(|t| t.set_hash.clone()),
                fp.algorithm(),
                now_utc(),
                screen,
                bytes,
            ],
        )
        .map_err(sql)?;
        let id = tx.last_insert_rowid();
        if let Some(ms) = std::env::var(ENV_TEST_PAUSE)
            .ok()
            .and_then(|v| v.parse::<u64>().ok())
        {
            std::thread::sleep(std::time::Duration::from_millis(ms));
        }
        tx.commit().map_err(sql)?;
        Ok(id)
    }

    /// Removes an entry by name; whether it existed.
    pub fn remove(&mut self, name: &str) -> Result<bool> {
        if self.empty {
            return Ok(false);
        }
        let tx = self
            .conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .map_err(|e| Error::Sql {
                file: self.path.display().to_string(),
                source: e,
            })?;
        let n = tx
            .execute("DELETE FROM entries WHERE name = ?1", [name])
            .map_err(|e| Error::Sql {
                file: self.path.display().to_string(),
                source: e,
            })?;
        tx.commit().map_err(|e| Error::Sql {
            file: self.path.display().to_string(),
            source: e,
        })?;
        Ok(n > 0)
    }

    /// Lists entries by name.
    pub fn list(&self) -> Result<Vec<Entry>> {
        if self.empty {
            return Ok(Vec::new());
        }
        let mut st = self
            .conn
            .prepare(
                "SELECT id, name, publisher, licence, source, kind, format, architecture, params,
                    hidden, blocks, tokenizer_hash, algorithm, added_at, length(fingerprint)
                 FROM entries ORDER BY name",
            )
            .map_err(|e| self.sql(e))?;
        let rows = st
            .query_map([], |r| {
                Ok(Entry {
                    id: r.get(0)?,
                    meta: EntryMeta {
                        name: r.get(1)?,
                        publisher: r.get(2)?,
                        licence: r.get(3)?,
                        source: r.get(4)?,
                    },
                    kind: r.get(5)?,
                    format: r.get(6)?,
                    architecture: r.get(7)?,
                    params: r.get(8)?,
                    hidden: r.get(9)?,
                    blocks: r.get(10)?,
                    tokenizer_hash: r.get(11)?,
                    algorithm: r.get(12)?,
                    added_at: r.get(13)?,
                    bytes: r.get(14)?,
                })
            })
            .map_err(|e| self.sql(e))?;
        rows.collect::<std::result::Result<_, _>>()
            .map_err(|e| self.sql(e))
    }

    /// Entries as identify sees them (prescreen signatures, no fingerprints), from the
    /// `catalog` table (schema 2). Entries of another algorithm are refused (never silently
    /// compared).
    pub fn entries(&self) -> Result<Vec<EntryRef>> {
        if self.empty {
            return Ok(Vec::new());
        }
        let mut st = self
            .conn
            .prepare(
                "SELECT id, name, publisher, kind, tokenizer_hash, algorithm, screen
                 FROM catalog ORDER BY id",
            )
            .map_err(|e| self.sql(e))?;
        let rows = st
            .query_map([], |r| {
                Ok((
                    r.get::<_, i64>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, Option<String>>(2)?,
                    r.get::<_, String>(3)?,
                    r.get::<_, Option<String>>(4)?,
                    r.get::<_, String>(5)?,
                    r.get::<_, Vec<u8>>(6)?,
                ))
            })
            .map_err(|e| self.sql(e))?;
        let mut out = Vec::new();
        for row in rows {
            let (id, name, publisher, kind, tokenizer_hash, algorithm, screen) =
                row.map_err(|e| self.sql(e))?;
            // A legacy entry is checked when its fingerprint is loaded (it is read as the
            // current algorithm only when it holds the same values); a `/2` entry is a `/3`
            // one without weight samples.
            if algorithm != ALGORITHM
                && algorithm != PREVIOUS_ALGORITHM
                && algorithm != LEGACY_ALGORITHM
            {
                return Err(Error::Incompatible {
                    file: format!("{} (entry `{name}`)", self.path.display()),
                    found: format!("algorithm {algorithm}"),
                    expected: format!("algorithm {ALGORITHM}"),
                });
            }
            let screen = Screen::from_bytes(&screen).ok_or_else(|| Error::Format {
                file: self.path.display().to_string(),
                message: format!("entry `{name}`: malformed prescreen signature"),
            })?;
            out.push(EntryRef {
                id,
                name,
                publisher,
                screen,
                has_weights: kind == "model",
                tokenizer_hash,
            });
        }
        Ok(out)
    }

    /// Loads an entry's fingerprint by row id.
    pub fn load(&self, id: i64) -> Result<Fingerprint> {
        let (name, bytes): (String, Vec<u8>) = self
            .conn
            .query_row(
                "SELECT name, fingerprint FROM entries WHERE id = ?1",
                [id],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .map_err(|e| self.sql(e))?;
        Fingerprint::from_bytes(&bytes, &format!("{} (entry `{name}`)", self.path.display()))
    }

    /// Loads an entry by name: metadata and fingerprint.
    pub fn get(&self, name: &str) -> Result<Option<(EntryMeta, Fingerprint)>> {
        if self.empty {
            return Ok(None);
        }
        let row: Option<(EntryMeta, Vec<u8>)> = self
            .conn
            .query_row(
                "SELECT name, publisher, licence, source, fingerprint FROM entries WHERE name = ?1",
                [name],
                |r| {
                    Ok((
                        EntryMeta {
                            name: r.get(0)?,
                            publisher: r.get(1)?,
                            licence: r.get(2)?,
                            source: r.get(3)?,
                        },
                        r.get(4)?,
                    ))
                },
            )
            .optional()
            .map_err(|e| self.sql(e))?;
        match row {
            None => Ok(None),
            Some((m, b)) => {
                let fp = Fingerprint::from_bytes(
                    &b,
                    &format!("{} (entry `{name}`)", self.path.display()),
                )?;
                Ok(Some((m, fp)))
            }
        }
    }

    /// Writes a pack of the named entries (all when `names` is empty) to `path` (atomically:
    /// a temporary file renamed into place). Returns the number of entries.
    /// The pack never overwrites the registry itself.
    pub fn export(&self, path: &Path, names: &[String]) -> Result<usize> {
        if crate::atomic::same_file(path, &self.path) {
            return Err(Error::Entry {
                file: self.path.display().to_string(),
                message: format!(
                    "refusing to export over the registry itself ({})",
                    path.display()
                ),
            });
        }
        let mut entries = Vec::new();
        if !self.empty {
            let mut st = self
                .conn
                .prepare(
                    "SELECT name, publisher, licence, source, fingerprint FROM entries ORDER BY name",
                )
                .map_err(|e| self.sql(e))?;
            let rows = st
                .query_map([], |r| {
                    Ok((
                        EntryMeta {
                            name: r.get(0)?,
                            publisher: r.get(1)?,
                            licence: r.get(2)?,
                            source: r.get(3)?,
                        },
                        r.get::<_, Vec<u8>>(4)?,
                    ))
                })
                .map_err(|e| self.sql(e))?;
            for row in rows {
                let (m, b) = row.map_err(|e| self.sql(e))?;
                if names.is_empty() || names.contains(&m.name) {
                    entries.push((m, b));
                }
            }
        }
        for n in names {
            if !entries.iter().any(|(m, _)| &m.name == n) {
                return Err(Error::Entry {
                    file: self.path.display().to_string(),
                    message: format!("no entry named `{n}`"),
                });
            }
        }
        write_pack(path, &entries)?;
        Ok(entries.len())
    }

    /// Imports a pack: every fingerprint is checked (format, algorithm) before any is added;
    /// all are added in one transaction. Entries whose name exists are skipped unless
    /// `replace`. Returns (added, skipped).
    pub fn import(&mut self, path: &Path, replace: bool) -> Result<(usize, usize)> {
        let entries = read_pack(path)?;
        let file = self.path.display().to_string();
        let existing: Vec<String> = self.list()?.into_iter().map(|e| e.meta.name).collect();
        let mut fps = Vec::new();
        for (m, b) in &entries {
            let fp =
                Fingerprint::from_bytes(b, &format!("{} (entry `{}`)", path.display(), m.name))?;
            fps.push((m, fp));
        }
        if self.empty {
            return Err(Error::Entry {
                file: file.clone(),
                message: "the file holds no registry yet".into(),
            });
        }
        let tx = self
            .conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .map_err(|e| Error::Sql {
                file: file.clone(),
                source: e,
            })?;
        let mut added = 0;
        let mut skipped = 0;
        // Reuse `add`'s statement through a temporary registry view of the transaction.
        for (m, fp) in fps {
            if existing.contains(&m.name) {
                if !replace {
                    skipped += 1;
                    continue;
                }
                tx.execute("DELETE FROM entries WHERE name = ?1", [&m.name])
                    .map_err(|e| Error::Sql {
                        file: file.clone(),
                        source: e,
                    })?;
            }
            let info = &fp.info;
            tx.execute(
                "INSERT INTO entries (name, publisher, licence, source, kind, format, architecture,
                    params, hidden, blocks, tokenizer_hash, algorithm, added_at, screen, fingerprint)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15)",
                params![
                    m.name,
                    m.publisher,
                    m.licence,
                    m.source,
                    if fp.has_weights() { "model" } else { "tokenizer" },
                    info.format,
                    info.architecture,
                    info.params as i64,
                    info.hidden.map(|h| h as i64),
                    i64::from(info.blocks),
                    info.tokenizer.as_ref().map(|t| t.set_hash.clone()),
                    fp.algorithm(),
                    now_utc(),
                    Screen::of(&fp).to_bytes(),
                    fp.to_bytes()?,
                ],
            )
            .map_err(|e| Error::Sql {
                file: file.clone(),
                source: e,
            })?;
            added += 1;
        }
        tx.commit().map_err(|e| Error::Sql { file, source: e })?;
        Ok((added, skipped))
    }

    /// `PRAGMA integrity_check` is `ok`.
    pub fn integrity_ok(&self) -> Result<bool> {
        let s: String = self
            .conn
            .query_row("PRAGMA integrity_check", [], |r| r.get(0))
            .map_err(|e| self.sql(e))?;
        Ok(s == "ok")
    }
}

/// Writes a pack file atomically.
pub fn write_pack(path: &Path, entries: &[(EntryMeta, Vec<u8>)]) -> Result<()> {
    let io = |e| Error::Io {
        file: path.display().to_string(),
        source: e,
    };
    let metas: Vec<&EntryMeta> = entries.iter().map(|e| &e.0).collect();
    let mut meta = BTreeMap::new();
    meta.insert("taoke.pack.version".to_owned(), PACK_VERSION.to_owned());
    meta.insert("taoke.pack.algorithm".to_owned(), ALGORITHM.to_owned());
    meta.insert(
        "taoke.pack.entries".to_owned(),
        serde_json::to_string(&metas).map_err(|e| Error::Format {
            file: path.display().to_string(),
            message: e.to_string(),
        })?,
    );
    let names: Vec<String> = (0..entries.len()).map(|i| format!("entry.{i}")).collect();
    let shapes: Vec<[u64; 1]> = entries.iter().map(|e| [e.1.len() as u64]).collect();
    let tensors: Vec<(&str, taoke_dtype::Dtype, &[u64], &[u8])> = entries
        .iter()
        .enumerate()
        .map(|(i, e)| {
            (
                names[i].as_str(),
                taoke_dtype::Dtype::U8,
                &shapes[i][..],
                e.1.as_slice(),
            )
        })
        .collect();
    let mut buf = Vec::new();
    taoke_safetensors::write(&mut buf, &tensors, &meta).map_err(io)?;
    crate::atomic::write(path, &buf).map_err(|e| io(e.source))?;
    Ok(())
}

/// Largest pack read (bytes): a few thousand fingerprints of large models.
pub const MAX_PACK_BYTES: u64 = 1 << 30;

/// Most entries in a pack.
pub const MAX_PACK_ENTRIES: usize = 1 << 16;

/// Reads a pack file: (metadata, fingerprint bytes) per entry. Anything but a regular file
/// (a FIFO, a device) is refused before it is opened; the size is checked before reading and
/// at most [`MAX_PACK_BYTES`] + 1 bytes are read.
pub fn read_pack(path: &Path) -> Result<Vec<(EntryMeta, Vec<u8>)>> {
    use std::io::Read;
    let file = path.display().to_string();
    let io = |e| Error::Io {
        file: file.clone(),
        source: e,
    };
    let bad = |m: String| Error::Format {
        file: file.clone(),
        message: m,
    };
    let m = std::fs::metadata(path).map_err(io)?;
    if !m.is_file() {
        return Err(bad("not a regular file".into()));
    }
    if m.len() > MAX_PACK_BYTES {
        return Err(bad(format!(
            "{} bytes, more than the {MAX_PACK_BYTES}-byte cap of a pack",
            m.len()
        )));
    }
    let mut bytes = Vec::with_capacity(m.len() as usize);
    std::fs::File::open(path)
        .and_then(|f| f.take(MAX_PACK_BYTES + 1).read_to_end(&mut bytes))
        .map_err(io)?;
    if bytes.len() as u64 > MAX_PACK_BYTES {
        return Err(bad(format!(
            "more than the {MAX_PACK_BYTES}-byte cap of a pack"
        )));
    }
    parse_pack(&bytes, &file)
}

/// Parses a pack's bytes; `file` names it in errors.
pub fn parse_pack(bytes: &[u8], file: &str) -> Result<Vec<(EntryMeta, Vec<u8>)>> {
    let bad = |m: String| Error::Format {
        file: file.to_owned(),
        message: m,
    };
    let h = taoke_safetensors::Header::parse(bytes).map_err(|e| bad(e.to_string()))?;
    match h.metadata.get("taoke.pack.version") {
        Some(v) if v == PACK_VERSION => {}
        Some(v) => {
            return Err(bad(format!(
                "pack version {v}, this taoke reads {PACK_VERSION}"
            )))
        }
        None => return Err(bad("not a taoke fingerprint pack".into())),
    }
    let metas: Vec<EntryMeta> = serde_json::from_str(
        h.metadata
            .get("taoke.pack.entries")
            .ok_or_else(|| bad("no entries key".into()))?,
    )
    .map_err(|e| bad(format!("entries key: {e}")))?;
    if metas.len() > MAX_PACK_ENTRIES {
        return Err(bad(format!(
            "{} entries, more than the cap of {MAX_PACK_ENTRIES}",
            metas.len()
        )));
    }
    let by_name: std::collections::HashMap<&str, &taoke_safetensors::TensorEntry> =
        h.tensors.iter().map(|t| (t.name.as_str(), t)).collect();
    let mut out = Vec::new();
    for (i, m) in metas.into_iter().enumerate() {
        let name = format!("entry.{i}");
        let t = by_name
            .get(name.as_str())
            .ok_or_else(|| bad(format!("missing tensor `{name}`")))?;
        let (b, e) = t.data_offsets;
        let raw = h
            .data_start
            .checked_add(b)
            .zip(h.data_start.checked_add(e))
            .and_then(|(s, e)| bytes.get(s as usize..e as usize))
            .ok_or_else(|| bad(format!("tensor `{name}` past the end")))?;
        out.push((m, raw.to_vec()));
    }
    Ok(out)
}
