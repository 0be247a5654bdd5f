//! Write transactions that never outlive their errors.
//!
//! sqlx's own `Transaction` returns its connection to the pool whatever happened. After a
//! failed `COMMIT` (SQLite keeps the transaction open after `SQLITE_FULL`, or has already
//! rolled it back) the connection's idea of its transaction depth and the database's disagree;
//! the next request given that connection then "commits" a savepoint inside a transaction that
//! is never committed, and holds the write lock for everyone else. A full disk turned into
//! acknowledged writes that were lost.
//!
//! [`WriteTx`] keeps one rule: a connection goes back to the pool only after its `COMMIT`
//! succeeded. Anything else (an error in any statement, a failed `COMMIT`, a refusal by a
//! business rule, a request dropped half-way) closes the connection, which rolls the
//! transaction back in the database, and the pool opens a fresh one when it is next needed.
//! A caller learns of success only from [`WriteTx::commit`] returning `Ok`, so nothing is
//! acknowledged that was not committed.
//!
//! On SQLite the transaction starts with `BEGIN IMMEDIATE`: it takes the write lock at once
//! (waiting up to the busy timeout), so two writers never both read and then fail to upgrade.
//! Within one process the write transactions first queue on the store's write gate (an async
//! mutex), in order: SQLite has one writer anyway, and a writer that finds the lock taken
//! otherwise sleeps in SQLite's busy handler (1, 2, 5, 10… up to 100 ms a try) while the lock
//! is free again long before (issue 25: the sync of 10,000 contacts waited there). The busy
//! timeout still covers other processes on the same file.

use crate::{Dialect, Store, StoreError};
use sqlx::pool::PoolConnection;
use sqlx::{Any, AnyConnection, Executor};
use std::ops::{Deref, DerefMut};

/// An open write transaction on one pooled connection. Derefs to the connection, so queries
/// run on it with `.execute(&mut *tx)`. Dropped without [`commit`](WriteTx::commit), it is
/// rolled back and its connection discarded.
pub struct WriteTx {
    conn: PoolConnection<Any>,
    committed: bool,
    /// SQLite: this process's turn to write, held until the transaction ends (declared after
    /// the connection, so it is given up after the connection is returned or closed).
    _turn: Option<tokio::sync::OwnedMutexGuard<()>>,
}

impl Store {
    /// Starts a write transaction.
    pub(crate) async fn begin(&self) -> Result<WriteTx, StoreError> {
        // The turn first, then a connection: waiting writers hold no connection readers need.
        let turn = match self.dialect {
            Dialect::Sqlite => Some(self.write_gate.clone().lock_owned().await),
            Dialect::Postgres => None,
        };
        let mut conn = self.pool.acquire().await?;
        let begin = match self.dialect {
            Dialect::Sqlite => "BEGIN IMMEDIATE",
            Dialect::Postgres => "BEGIN",
        };
        if let Err(e) = conn.execute(begin).await {
            conn.close_on_drop();
            return Err(e.into());
        }
        Ok(WriteTx {
            conn,
            committed: false,
            _turn: turn,
        })
    }
}

impl Store {
    /// A pooled connection for reads that belong together (no transaction).
    pub async fn read_connection(&self) -> Result<PoolConnection<Any>, StoreError> {
        Ok(self.pool.acquire().await?)
    }
}

impl WriteTx {
    /// Commits. `Ok` means the database has the changes; on `Err` it has none of them.
    pub async fn commit(mut self) -> Result<(), StoreError> {
        match self.conn.execute("COMMIT").await {
            Ok(_) => {
                self.committed = true;
                Ok(())
            }
            // `Drop` discards the connection; closing it ends whatever SQLite kept open.
            Err(e) => Err(e.into()),
        }
    }
}

impl Drop for WriteTx {
    fn drop(&mut self) {
        if !self.committed {
            self.conn.close_on_drop();
        }
    }
}

impl Deref for WriteTx {
    type Target = AnyConnection;

    fn deref(&self) -> &AnyConnection {
        &self.conn
    }
}

impl DerefMut for WriteTx {
    fn deref_mut(&mut self) -> &mut AnyConnection {
        &mut self.conn
    }
}
