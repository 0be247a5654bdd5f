//! Test certificates made on the fly with rcgen, with chosen names and validity dates.

use time::OffsetDateTime;

pub struct TestCert {
    pub pem: String,
    pub der: Vec<u8>,
}

/// A self-signed certificate with subject `O=Example IdP, CN=<cn>` (encoding order).
pub fn make_cert(cn: &str, not_before: OffsetDateTime, not_after: OffsetDateTime) -> TestCert {
    make_cert_with_names(&[("O", "Example IdP"), ("CN", cn)], not_before, not_after)
}

/// A self-signed certificate whose subject has the given attributes in encoding order.
pub fn make_cert_with_names(
    names: &[(&str, &str)],
    not_before: OffsetDateTime,
    not_after: OffsetDateTime,
) -> TestCert {
    let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).expect("params");
    let mut dn = rcgen::DistinguishedName::new();
    for (ty, value) in names {
        let ty = match *ty {
            "CN" => rcgen::DnType::CommonName,
            "O" => rcgen::DnType::OrganizationName,
            "OU" => rcgen::DnType::OrganizationalUnitName,
            "C" => rcgen::DnType::CountryName,
            other => panic!("unsupported test DN type {other}"),
        };
        dn.push(ty, *value);
    }
    params.distinguished_name = dn;
    params.not_before = not_before;
    params.not_after = not_after;
    let key = rcgen::KeyPair::generate().expect("key");
    let cert = params.self_signed(&key).expect("self-signed certificate");
    TestCert {
        pem: cert.pem(),
        der: cert.der().to_vec(),
    }
}
