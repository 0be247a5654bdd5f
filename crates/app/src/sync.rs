//! The identity-side sync (R6) and automatic removals (R7): the work of the background
//! workers, one pass at a time so that tests and benchmarks can drive it to empty.
//!
//! A pass claims due rows with a lease (storage makes the claim exclusive across workers and
//! instances), talks to the identity side for each, and records the outcome. Nothing is held
//! only in memory: a worker that dies mid-request leaves a lease that runs out, and the next
//! worker repeats the request with the same idempotency key, so the identity side registers
//! the contact once.
//!
//! Leases follow the work: each pass holds its rows under an owner name of its own and renews
//! them every third of the lease while it runs (a heartbeat), so the lease can be short (10 s
//! by default) however long the identity side takes, and the rows of a worker killed with -9
//! are free again within one lease. Whatever a pass still holds when it ends (an outcome that
//! could not be recorded) is released at once.

use crate::Contacts;
use crate::metrics::SyncOutcome;
use crate::{App, AppError};
use futures_util::StreamExt;
use futures_util::future::{BoxFuture, FutureExt};
use smartcore_domain::{AuditActor, RemovalId, Timestamp};
use smartcore_identity::{
    ConnectorError, Registered as RegisteredContact, Registration, retry_delay,
};
use smartcore_storage::synced::{self, Recorded};
use smartcore_storage::{RemovalOutcome, SyncJob};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// How the sync works through its queue.
#[derive(Debug, Clone, Copy)]
pub struct SyncSettings {
    /// How long a claimed row stays invisible to other workers; longer than any request.
    pub lease: Duration,
    /// Rows claimed per pass.
    pub batch: i64,
    /// Requests to the identity side in flight at once, per worker.
    pub concurrency: usize,
}

impl Default for SyncSettings {
    fn default() -> Self {
        Self {
            lease: Duration::from_secs(10),
            batch: 200,
            concurrency: 16,
        }
    }
}

/// Registrations recorded in one unit of work at most: what arrived while the last batch was
/// being written, up to this many.
const RECORD_BATCH: usize = 256;

/// How long a registration waiting for an identity-side removal waits before looking again on
/// its own (the removal completing wakes it at once).
const WAITING_RECHECK: Duration = Duration::from_secs(60);

/// How long a contact waits for its organisation to be linked before the next look.
const NOT_LINKED_RECHECK: Duration = Duration::from_secs(60);
const NOT_LINKED_REASON: &str =
    "Waiting for the organisation to be linked to the identity side (smartcore org link-identity).";

pub(crate) fn millis(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

/// A lease owner name for one pass of `worker`: unique in the process, so a heartbeat renews
/// only the rows of the pass under way, never those a finished pass left behind.
pub(crate) fn pass_owner(worker: &str) -> String {
    static PASSES: AtomicU64 = AtomicU64::new(0);
    format!("{worker}#{}", PASSES.fetch_add(1, Ordering::Relaxed))
}

impl Contacts<'_> {
    /// One pass of the sync: registers up to `settings.batch` due contacts. Returns how many
    /// were handled (0 when nothing was due).
    ///
    /// The registrations are recorded as they come back, in batches (issue 25): whatever
    /// arrived while the last batch was being written goes into the next one, so a pass spends
    /// one commit per batch rather than one per contact, and the identity side's pace, not the
    /// database's, sets the sync's.
    pub async fn sync_once(&self, worker: &str, settings: SyncSettings) -> Result<usize, AppError> {
        let owner = pass_owner(worker);
        let worker = owner.as_str();
        // The first claim says whether there is anything to do; the next ones are made while
        // the registrations of the earlier ones are under way, so the identity side is kept
        // busy across claims instead of waiting for each to be read.
        let chunk = i64::try_from(settings.concurrency.max(1) * 2)
            .unwrap_or(i64::MAX)
            .min(settings.batch.max(1));
        let first = self
            .store
            .claim_due_contacts(worker, self.now(), millis(settings.lease), chunk)
            .await?;
        if first.is_empty() {
            return Ok(0);
        }
        // The jobs flow through a channel as wide as the concurrency: the next claim is made
        // when the registrations have taken all but that many of the earlier ones.
        let (claimed, mut jobs) = tokio::sync::mpsc::channel(settings.concurrency.max(1));
        let claim_more = async move {
            let mut taken = first.len();
            let mut exhausted = i64::try_from(taken).unwrap_or(i64::MAX) < chunk;
            let mut next = first;
            loop {
                for job in next {
                    if claimed.send(job).await.is_err() {
                        return taken;
                    }
                }
                let so_far = i64::try_from(taken).unwrap_or(i64::MAX);
                if exhausted || so_far >= settings.batch {
                    return taken;
                }
                let want = chunk.min(settings.batch - so_far);
                match self
                    .store
                    .claim_due_contacts(worker, self.now(), millis(settings.lease), want)
                    .await
                {
                    Ok(more) if !more.is_empty() => {
                        taken += more.len();
                        exhausted = i64::try_from(more.len()).unwrap_or(i64::MAX) < want;
                        next = more;
                    }
                    Ok(_) => return taken,
                    Err(e) => {
                        // What was claimed is worked; the rest waits for the next pass.
                        tracing::warn!(error = %e, "could not claim more contacts to register");
                        return taken;
                    }
                }
            }
        };
        let jobs = futures_util::stream::poll_fn(move |cx| jobs.poll_recv(cx));
        let (registered, arriving) = tokio::sync::mpsc::unbounded_channel();
        let register = async move {
            let registered = &registered;
            jobs.for_each_concurrent(settings.concurrency.max(1), |job| async move {
                    match self.sync_contact(worker, &job).await {
                        Ok(Some(done)) => {
                            // The recorder outlives the senders: it ends when they are gone.
                            let _ = registered.send((job, done));
                        }
                        Ok(None) => {}
                        Err(e) => {
                            // Released when the pass ends, and tried again: nothing is lost.
                            tracing::warn!(contact = %job.contact_id, error = %e.chain(), "could not record a sync outcome");
                        }
                    }
                })
                .await;
        };
        let record = self.record_registrations(worker, arriving);
        let work = async move { tokio::join!(claim_more, register, record).0 };
        let handled = self
            .holding_leases(worker, settings.lease, work.boxed())
            .await;
        Ok(handled)
    }

    /// Records the registrations of a pass as they arrive, a batch at a time, until the pass
    /// has registered everything it claimed.
    async fn record_registrations(
        &self,
        worker: &str,
        mut arriving: tokio::sync::mpsc::UnboundedReceiver<(SyncJob, RegisteredContact)>,
    ) {
        let mut batch = Vec::with_capacity(RECORD_BATCH);
        while arriving.recv_many(&mut batch, RECORD_BATCH).await > 0 {
            if let Err(e) = self.record_batch(worker, &batch).await {
                if batch.len() == 1 {
                    // Released when the pass ends, and tried again: nothing is lost.
                    tracing::warn!(contact = %batch[0].0.contact_id, error = %e.chain(), "could not record a registration");
                } else {
                    // One contact's trouble must not hold back the others: one at a time.
                    tracing::warn!(contacts = batch.len(), error = %e.chain(), "could not record a batch of registrations; recording them one by one");
                    for one in batch.chunks(1) {
                        if let Err(e) = self.record_batch(worker, one).await {
                            tracing::warn!(contact = %one[0].0.contact_id, error = %e.chain(), "could not record a registration");
                        }
                    }
                }
            }
            batch.clear();
        }
    }

    /// One unit of work for a batch of registrations: each contact still held is Synced with
    /// its welcome claimed; then a contact removed while its registration was under way is
    /// taken off the identity side again.
    async fn record_batch(
        &self,
        worker: &str,
        batch: &[(SyncJob, RegisteredContact)],
    ) -> Result<(), AppError> {
        let now = self.now();
        let registrations: Vec<synced::Registered> = batch
            .iter()
            .map(|(job, done)| synced::Registered {
                contact_id: job.contact_id.clone(),
                identity_contact_id: done.identity_contact_id.clone(),
                adopted: done.adopted,
            })
            .collect();
        let mut tx = self.store.write().await?;
        let recorded = synced::record(&mut tx, worker, &registrations, now).await?;
        tx.commit().await?;
        let mut welcomes = false;
        for ((job, done), recorded) in batch.iter().zip(recorded) {
            match recorded {
                Recorded::SyncedWelcomeDue | Recorded::SyncedWelcomedRecently => {
                    tracing::info!(contact = %job.contact_id, adopted = done.adopted, "IT contact synced");
                    if recorded == Recorded::SyncedWelcomeDue {
                        welcomes = true;
                    } else {
                        // Welcomed to this organisation within 7 days (issue 24): none again.
                        self.metrics.limit_refusal("welcome_per_address");
                    }
                }
                Recorded::NotHeld => {
                    if let Err(e) = self.take_off_again(job, done, now).await {
                        tracing::warn!(contact = %job.contact_id, error = %e.chain(), "could not queue the removal of a contact registered after its removal");
                    }
                }
            }
        }
        if welcomes {
            // Issue 16: the welcomes, claimed with the Synced marks, are sent by the welcome
            // worker, woken now (mail must not hold the identity side's pace).
            self.welcomes_due.notify_one();
        }
        Ok(())
    }

    /// A contact removed while its registration was under way: its removal is queued.
    async fn take_off_again(
        &self,
        job: &SyncJob,
        done: &RegisteredContact,
        now: smartcore_domain::Timestamp,
    ) -> Result<(), AppError> {
        let automatic =
            self.removal_mode != smartcore_storage::RemovalMode::Queue { automatic: false };
        let flagged = self
            .store
            .flag_orphaned_registration(job, &done.identity_contact_id, automatic, now)
            .await?;
        if let Some(id) = flagged {
            tracing::warn!(contact = %job.contact_id, removal = %id, "registered after removal; removal queued");
            if self.removal_mode == smartcore_storage::RemovalMode::CompletedNow {
                self.store
                    .complete_removal(&id, &AuditActor::System, RemovalOutcome::Deleted, now)
                    .await?;
            }
        }
        Ok(())
    }

    /// Whether `job` must wait for an identity-side removal before registering (issue 24):
    /// the identity side allows 20 contacts, and a contact removed here stays there until its
    /// removal completes. Registering over the limit would be refused for good; waiting, the
    /// registration goes ahead the moment the removal completes. Returns the removal waited
    /// for: (id, address).
    async fn removal_to_wait_for(
        &self,
        job: &SyncJob,
    ) -> Result<Option<(String, String)>, AppError> {
        // Full there only with a removal pending (the claim looked): without one, nothing
        // to wait for, and no statement spent per contact on finding that out.
        if job.identity_org_id.is_none() || job.removal_pending == 0 {
            return Ok(None);
        }
        let room = self
            .store
            .identity_room(&job.org_id, &job.contact_id, self.now())
            .await?;
        Ok(room
            .pending_removal
            .filter(|_| room.taken >= smartcore_domain::MAX_CONTACTS as i64))
    }

    async fn wait_for_removal(
        &self,
        worker: &str,
        job: &SyncJob,
        (removal_id, email): (String, String),
    ) -> Result<(), AppError> {
        let reason = format!(
            "Waiting for the removal of {email} to finish on the identity side, which allows {} IT contacts; registered as soon as it is done.",
            smartcore_domain::MAX_CONTACTS
        );
        tracing::info!(contact = %job.contact_id, removal = %removal_id, "registration waits for a removal");
        let recheck = self.now().plus_millis(millis(WAITING_RECHECK));
        self.store
            .wait_for_removal(&job.contact_id, worker, &removal_id, &reason, recheck)
            .await?;
        Ok(())
    }

    /// Sends the job's registration (its contact id is the idempotency key): the answer, and
    /// the time it came.
    async fn register(
        &self,
        job: &SyncJob,
    ) -> (Result<RegisteredContact, ConnectorError>, Timestamp) {
        let registration = Registration {
            identity_org_id: job.identity_org_id.clone(),
            idempotency_key: job.contact_id.clone(),
            email: job.email.clone(),
        };
        let outcome = self.identity.register(&registration).await;
        (outcome, self.now())
    }

    /// Sends one registration; records every outcome but success, which comes back to be
    /// recorded with its batch.
    async fn sync_contact(
        &self,
        worker: &str,
        job: &SyncJob,
    ) -> Result<Option<RegisteredContact>, AppError> {
        if let Some(removal) = self.removal_to_wait_for(job).await? {
            self.wait_for_removal(worker, job, removal).await?;
            return Ok(None);
        }
        let (outcome, now) = self.register(job).await;
        self.metrics.sync_attempt(match &outcome {
            Ok(r) if r.adopted => SyncOutcome::Adopted,
            Ok(_) => SyncOutcome::Synced,
            Err(ConnectorError::NotLinked) => SyncOutcome::NotLinked,
            Err(ConnectorError::Retryable { .. }) => SyncOutcome::Retry,
            Err(ConnectorError::Permanent { .. }) => SyncOutcome::Refused,
        });
        match outcome {
            Ok(registered) => return Ok(Some(registered)),
            Err(ConnectorError::NotLinked) => {
                let next = now.plus_millis(millis(NOT_LINKED_RECHECK));
                self.store
                    .retry_sync_later(&job.contact_id, worker, NOT_LINKED_REASON, false, next)
                    .await?;
            }
            Err(ConnectorError::Retryable {
                reason,
                retry_after,
            }) => {
                let attempt = u32::try_from(job.sync_attempts).unwrap_or(u32::MAX);
                let next = now.plus_millis(millis(retry_delay(attempt, retry_after)));
                let detail = format!(
                    "The identity side did not answer yet ({reason}); retrying automatically."
                );
                tracing::info!(contact = %job.contact_id, %reason, retry_at = %next, "sync will be retried");
                self.store
                    .retry_sync_later(&job.contact_id, worker, &detail, true, next)
                    .await?;
            }
            Err(ConnectorError::Permanent {
                code: Some(code), ..
            }) if code == smartcore_storage::LIMIT_REFUSAL_MARKER
                && let Some(removal) = self
                    .store
                    .identity_room(&job.org_id, &job.contact_id, now)
                    .await?
                    .pending_removal =>
            {
                // Full there only until a removal completes: temporary, never final.
                self.wait_for_removal(worker, job, removal).await?;
            }
            Err(e @ ConnectorError::Permanent { .. }) => {
                let mut reason = format!("The identity side refused this contact: {}", e.reason());
                if let ConnectorError::Permanent {
                    code: Some(code), ..
                } = &e
                    && code == smartcore_storage::LIMIT_REFUSAL_MARKER
                {
                    // Kept in the words, so that a removal completing later tries it again.
                    reason.push_str(&format!(" ({code})"));
                }
                tracing::warn!(contact = %job.contact_id, %reason, "sync failed");
                self.store
                    .mark_sync_failed(&job.contact_id, worker, &reason, now)
                    .await?;
            }
        }
        Ok(None)
    }

    /// One pass of automatic identity-side removals (SMARTCORE_IDENTITY_AUTO_REMOVE).
    pub async fn remove_once(
        &self,
        worker: &str,
        settings: SyncSettings,
    ) -> Result<usize, AppError> {
        let owner = pass_owner(worker);
        let worker = owner.as_str();
        let due = self
            .store
            .claim_due_removals(worker, self.now(), millis(settings.lease), settings.batch)
            .await?;
        let handled = due.len();
        if handled == 0 {
            return Ok(0);
        }
        let work = futures_util::stream::iter(due)
            .for_each_concurrent(settings.concurrency.max(1), |removal| async move {
                let Some(id) = RemovalId::parse(&removal.id) else { return };
                if removal.status == smartcore_domain::RemovalStatus::Tombstone {
                    if let Err(e) = self.take_over_tombstone(worker, &id, &removal).await {
                        tracing::warn!(removal = %removal.id, error = %e, "could not record a tombstone's outcome");
                    }
                    return;
                }
                let result = self
                    .identity
                    .remove(removal.identity_org_id.as_deref(), &removal.identity_contact_id)
                    .await;
                let now = self.now();
                self.metrics.removal_attempt(match &result {
                    Ok(()) => "removed",
                    Err(ConnectorError::Retryable { .. }) => "retry",
                    Err(_) => "handed_to_operations",
                });
                let recorded = match result {
                    Ok(()) => self.store.complete_removal(&id, &AuditActor::System, RemovalOutcome::Deleted, now).await.map(|_| ()),
                    Err(ConnectorError::Retryable { reason, retry_after }) => {
                        let attempt = u32::try_from(removal.attempts).unwrap_or(u32::MAX);
                        let next = now.plus_millis(millis(retry_delay(attempt, retry_after)));
                        self.store.retry_removal_later(&id, &reason, next).await
                    }
                    Err(e) => self.store.hand_removal_to_operations(&id, &e.reason()).await,
                };
                if let Err(e) = recorded {
                    tracing::warn!(removal = %removal.id, error = %e, "could not record a removal outcome");
                }
            });
        self.holding_leases(worker, settings.lease, work.boxed())
            .await;
        Ok(handled)
    }

    /// Takes over the registration of a contact removed while it was in flight (issue 24):
    /// its worker finished nothing within its lease (killed between the identity side's answer
    /// and recording it, or the answer never came). The registration is sent again with the
    /// same idempotency key, so the identity side answers with what it did the first time (or
    /// registers it now); either way its id is learnt and its removal queued. A refusal means
    /// nothing is there: the tombstone is closed.
    async fn take_over_tombstone(
        &self,
        worker: &str,
        id: &RemovalId,
        removal: &smartcore_storage::RemovalRecord,
    ) -> Result<(), AppError> {
        let job = SyncJob {
            contact_id: removal.contact_id.clone(),
            org_id: removal.org_id.clone(),
            email: removal.email.clone(),
            identity_org_id: removal.identity_org_id.clone(),
            sync_attempts: removal.attempts,
            // A tombstone is a removal pending: the list there may be full.
            removal_pending: 1,
        };
        let (outcome, now) = self.register(&job).await;
        self.metrics.removal_attempt(match &outcome {
            Ok(_) => "taken_over",
            Err(ConnectorError::Retryable { .. }) => "retry",
            Err(_) => "nothing_there",
        });
        match outcome {
            Ok(registered) => {
                let automatic =
                    self.removal_mode != smartcore_storage::RemovalMode::Queue { automatic: false };
                let flagged = self
                    .store
                    .flag_orphaned_registration(
                        &job,
                        &registered.identity_contact_id,
                        automatic,
                        now,
                    )
                    .await?;
                tracing::warn!(contact = %job.contact_id, %worker, removal = ?flagged.as_ref().map(RemovalId::as_str), identity_contact = %registered.identity_contact_id, "took over the registration of a removed contact");
            }
            Err(ConnectorError::Retryable {
                reason,
                retry_after,
            }) => {
                let attempt = u32::try_from(removal.attempts).unwrap_or(u32::MAX);
                let next = now.plus_millis(millis(retry_delay(attempt, retry_after)));
                self.store.retry_removal_later(id, &reason, next).await?;
            }
            Err(e) => {
                tracing::info!(contact = %job.contact_id, reason = %e.reason(), "a removed contact's registration is not on the identity side");
                self.store
                    .close_tombstone(id, RemovalOutcome::NotRegistered, now)
                    .await?;
            }
        }
        Ok(())
    }

    /// Works the sync and removal queues until nothing is due (for tests and benchmarks).
    pub async fn drain_queues(&self, worker: &str, settings: SyncSettings) -> Result<(), AppError> {
        while self.sync_once(worker, settings).await? + self.remove_once(worker, settings).await?
            > 0
        {}
        Ok(())
    }
}

impl App {
    /// Runs `work` while renewing the leases `owner` holds every third of `lease`, then
    /// releases whatever `owner` still holds, and returns what the work returned. A renewal
    /// that fails (the database is briefly away) is logged; the lease then runs out and
    /// another worker repeats the request with the same idempotency key, which the identity
    /// side answers once (a reminder or welcome may then go out twice; that beats not at all).
    ///
    /// The work comes boxed: the passes' `for_each_concurrent` futures, passed generically,
    /// lose the lifetimes the compiler needs to prove the worker task `Send`.
    pub(crate) async fn holding_leases<T>(
        &self,
        owner: &str,
        lease: Duration,
        work: BoxFuture<'_, T>,
    ) -> T {
        let beat = async {
            let every = (lease / 3).max(Duration::from_millis(100));
            loop {
                tokio::time::sleep(every).await;
                let until = self.now().plus_millis(millis(lease));
                if let Err(e) = self.store.renew_leases(owner, until).await {
                    tracing::warn!(%owner, error = %e, "could not renew leases");
                }
            }
        };
        let done = tokio::select! {
            done = work => done,
            () = beat => unreachable!("the heartbeat only ends with the work"),
        };
        if let Err(e) = self.store.release_leases(owner).await {
            tracing::warn!(%owner, error = %e, "could not release leases; they run out instead");
        }
        done
    }
}
