//! The checks of a signed Assertion against what this service expects: issuer, audience,
//! recipient and time. Each adds its line to the [`Report`]; the first failure is the refusal.

use time::OffsetDateTime;

use super::document::Signed;
use super::{CLOCK_SKEW, CheckName, Expected, Reason, Refusal, Report, earliest, show_time};

/// The Assertion's Issuer (and the signed Response's) is the configured identity provider.
pub(super) fn issuer(signed: &Signed, expected: &Expected<'_>, report: &mut Report) {
    let want_issuer = expected.idp_entity_id.trim();
    if signed.assertion.issuer.trim() != want_issuer {
        report.refuse(
            CheckName::Issuer,
            Refusal::new(
                Reason::IssuerMismatch,
                format!(
                    "the Assertion was issued by \"{}\", not by the configured identity provider \"{want_issuer}\"",
                    signed.assertion.issuer
                ),
            ),
        );
    } else if let Some(issuer) = &signed.response_issuer
        && issuer.trim() != want_issuer
    {
        report.refuse(
            CheckName::Issuer,
            Refusal::new(
                Reason::IssuerMismatch,
                format!(
                    "the Response was issued by \"{issuer}\", not by the configured identity provider \"{want_issuer}\""
                ),
            ),
        );
    } else {
        report.pass(
            CheckName::Issuer,
            format!("issued by the configured identity provider \"{want_issuer}\""),
        );
    }
}

/// Every AudienceRestriction names this service.
pub(super) fn audience(signed: &Signed, expected: &Expected<'_>, report: &mut Report) {
    let sp = expected.sp_entity_id.trim();
    if signed.audiences.is_empty() {
        report.refuse(
            CheckName::Audience,
            Refusal::new(
                Reason::AudienceMismatch,
                "the Assertion has no AudienceRestriction naming this service".to_string(),
            ),
        );
    } else if let Some(other) = signed
        .audiences
        .iter()
        .find(|restriction| !restriction.iter().any(|a| a.trim() == sp))
    {
        report.refuse(
            CheckName::Audience,
            Refusal::new(
                Reason::AudienceMismatch,
                format!(
                    "the Assertion is for the audience \"{}\", not for this service (\"{sp}\")",
                    other.join("\", \"")
                ),
            ),
        );
    } else {
        report.pass(CheckName::Audience, format!("issued for \"{sp}\""));
    }
}

/// A bearer SubjectConfirmation is addressed to this service's ACS URL (and the signed
/// Response's Destination, when present). Returns the index of that bearer.
pub(super) fn recipient(
    signed: &Signed,
    expected: &Expected<'_>,
    report: &mut Report,
) -> Option<usize> {
    let acs = expected.acs_url.trim();
    let bearer = signed
        .bearers
        .iter()
        .position(|b| b.recipient.as_deref().map(str::trim) == Some(acs));
    if signed.bearers.is_empty() {
        report.refuse(
            CheckName::Recipient,
            Refusal::new(
                Reason::RecipientMismatch,
                "the Assertion has no bearer SubjectConfirmation".to_string(),
            ),
        );
    } else if bearer.is_none() {
        let seen: Vec<&str> = signed
            .bearers
            .iter()
            .map(|b| b.recipient.as_deref().unwrap_or("(none)"))
            .collect();
        report.refuse(
            CheckName::Recipient,
            Refusal::new(
                Reason::RecipientMismatch,
                format!(
                    "the Assertion's Recipient is \"{}\", not this service's address \"{acs}\"",
                    seen.join("\", \"")
                ),
            ),
        );
    } else if let Some(destination) = &signed.destination
        && destination.trim() != acs
    {
        report.refuse(
            CheckName::Recipient,
            Refusal::new(
                Reason::RecipientMismatch,
                format!(
                    "the Response's Destination is \"{destination}\", not this service's address \"{acs}\""
                ),
            ),
        );
    } else {
        report.pass(CheckName::Recipient, format!("addressed to \"{acs}\""));
    }
    bearer
}

/// Now is inside the Conditions' window and the bearer's, give or take [`CLOCK_SKEW`]; the
/// Assertion's `not_on_or_after` becomes the earlier of the two ends.
pub(super) fn time(
    signed: &mut Signed,
    bearer: Option<usize>,
    expected: &Expected<'_>,
    report: &mut Report,
) {
    let now = expected.now;
    let mut windows: Vec<(&str, Option<OffsetDateTime>, Option<OffsetDateTime>)> = vec![(
        "Conditions",
        signed.not_before,
        signed.conditions_not_on_or_after,
    )];
    if let Some(b) = bearer.map(|i| &signed.bearers[i]) {
        windows.push(("SubjectConfirmationData", b.not_before, b.not_on_or_after));
        signed.assertion.not_on_or_after =
            earliest(signed.conditions_not_on_or_after, b.not_on_or_after);
    }
    let mut time_problem = None;
    for (what, not_before, not_on_or_after) in windows {
        if let Some(nb) = not_before
            && now < nb - CLOCK_SKEW
        {
            time_problem = Some(Refusal::new(
                Reason::NotYetValid,
                format!("the {what} are valid only from {}", show_time(nb)),
            ));
            break;
        }
        if let Some(noa) = not_on_or_after
            && now >= noa + CLOCK_SKEW
        {
            time_problem = Some(Refusal::new(
                Reason::Expired,
                format!("the {what} expired at {}", show_time(noa)),
            ));
            break;
        }
    }
    match time_problem {
        Some(refusal) => report.refuse(CheckName::Time, refusal),
        None => report.pass(
            CheckName::Time,
            match signed.assertion.not_on_or_after {
                Some(noa) => format!("valid now, until {}", show_time(noa)),
                None => "valid now".to_string(),
            },
        ),
    }
}
