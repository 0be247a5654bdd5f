//! Parsing identity-provider metadata away from the async threads, shared by an
//! administrator's upload and the scheduled refresh.

use crate::AppError;
use smartcore_sso::IdpMetadata;

/// How many metadata documents are parsed at once; more wait their turn.
const METADATA_PARSERS: usize = 2;

/// Parses metadata on tokio's blocking threads, at most [`METADATA_PARSERS`] at once, so a
/// large or hostile document never holds an async thread that other requests need.
pub(crate) async fn parse_metadata_off_the_async_threads(
    xml: String,
) -> Result<IdpMetadata, MetadataParse> {
    static PARSERS: tokio::sync::Semaphore = tokio::sync::Semaphore::const_new(METADATA_PARSERS);
    let _turn = PARSERS
        .acquire()
        .await
        .map_err(|e| MetadataParse::Stopped(AppError::internal(e.to_string())))?;
    tokio::task::spawn_blocking(move || IdpMetadata::parse(&xml))
        .await
        .map_err(|e| {
            MetadataParse::Stopped(AppError::internal(format!("metadata parsing stopped: {e}")))
        })?
        .map_err(MetadataParse::Invalid)
}

/// Why metadata did not parse: the document is not valid metadata, or the parsing itself
/// could not run.
#[derive(Debug)]
pub(crate) enum MetadataParse {
    Invalid(smartcore_sso::MetadataError),
    Stopped(AppError),
}

impl std::fmt::Display for MetadataParse {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            MetadataParse::Invalid(e) => write!(f, "{e}."),
            MetadataParse::Stopped(e) => write!(f, "{e}"),
        }
    }
}
