//! Counted limits of an organisation ([`Quota`]s), taken in a unit of work of their own
//! under the organisation's lock, so that every instance shares the count.

use crate::{App, AppError};
use smartcore_domain::quota::seconds_until;
use smartcore_domain::{OrgId, Quota};
use smartcore_storage::orgs;
use smartcore_storage::quota::{self, Counter};

impl App {
    /// Takes `wanted` uses of `quota` on `counter`, or refuses `429 rate_limited` with the
    /// seconds until they would fit (counted in `/metrics` under `label`).
    pub(crate) async fn take_quota(
        &self,
        org_id: &OrgId,
        counter: Counter<'_>,
        quota: Quota,
        wanted: u32,
        label: &'static str,
    ) -> Result<(), AppError> {
        let now = self.now();
        let mut tx = self.store.write().await?;
        orgs::lock(&mut tx, org_id).await?;
        let used = quota::uses_since(&mut tx, counter, quota.window_start(now)).await?;
        if let Err(free_at) = quota.admit(&used, wanted, now) {
            self.metrics.limit_refusal(label);
            return Err(AppError::RateLimited {
                retry_after_secs: seconds_until(free_at, now),
            });
        }
        quota::record(&mut tx, counter, now, wanted).await?;
        tx.commit().await?;
        Ok(())
    }
}
