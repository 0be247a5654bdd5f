//! The identity side: the builtin connector or the WorkOS IT Contacts API, and its key.

use super::sources::{Values, bad};
use super::{ConfigError, IdentityKind};

pub(super) fn identity(v: &Values) -> Result<IdentityKind, ConfigError> {
    match v.required("IDENTITY")?.as_str() {
        "builtin" => Ok(IdentityKind::Builtin),
        "workos" => Ok(IdentityKind::WorkOs),
        other => Err(bad(
            "IDENTITY",
            format!("{other:?} is not one of builtin, workos"),
        )),
    }
}

pub(super) fn workos_api_key(
    v: &Values,
    identity: IdentityKind,
) -> Result<Option<String>, ConfigError> {
    let key = v.get("WORKOS_API_KEY");
    if identity == IdentityKind::WorkOs && key.is_none() {
        return Err(bad(
            "WORKOS_API_KEY",
            "is required when SMARTCORE_IDENTITY=workos",
        ));
    }
    Ok(key)
}
