#!/usr/bin/env python3
"""Self-test of saml_idp.py without our Rust service: pysaml2's own SP (Saml2Client) plays the
service provider. Run with the venv's Python:

    target/saml-idp-venv/bin/python crates/smartcore/tests/idp/smoke_test.py

It starts the IdP, registers SP metadata shaped exactly like our service's (crates/sso/src/saml.rs
`sp_metadata`) through /control/sp, sends AuthnRequests over HTTP-Redirect and HTTP-POST (pysaml2's
own and one shaped like ours), and checks pysaml2's SP accepts the signed Response, refuses
one signed with a key not in the metadata, and that each override shows in the XML.
Ends with one line `N passed, N failed`.
"""

import base64
import datetime
import html
import json
import logging
import os
import re
import shutil
import subprocess
import sys
import tempfile
import urllib.error
import urllib.parse
import urllib.request
import uuid
import warnings
import zlib

warnings.filterwarnings("ignore", message=".*CFB.*")
# pysaml2's SP logs each refusal this test provokes; the checks below report them.
logging.getLogger("saml2").addHandler(logging.NullHandler())
logging.getLogger("saml2").propagate = False

from saml2 import BINDING_HTTP_POST, BINDING_HTTP_REDIRECT, saml  # noqa: E402
from saml2.client import Saml2Client  # noqa: E402
from saml2.config import SPConfig  # noqa: E402
from saml2.response import StatusError  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
SP_BASE = "http://127.0.0.1:9/saml/org_0192smoketest0000000000000000"
SP_ENTITY = SP_BASE
SP_ACS = SP_BASE + "/acs"
SP2_ENTITY = "http://127.0.0.1:9/saml/org_0192secondsp000000000000000"

NS_MD = "urn:oasis:names:tc:SAML:2.0:metadata"


def sp_metadata(entity_id, acs_url):
    """The same document as crates/sso/src/saml.rs `sp_metadata`."""
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<md:EntityDescriptor xmlns:md="{NS_MD}" entityID="{html.escape(entity_id)}">
  <md:SPSSODescriptor AuthnRequestsSigned="false" WantAssertionsSigned="true" protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol">
    <md:NameIDFormat>urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress</md:NameIDFormat>
    <md:AssertionConsumerService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST" Location="{html.escape(acs_url)}" index="0" isDefault="true"/>
  </md:SPSSODescriptor>
</md:EntityDescriptor>
"""


def our_authn_request(destination, entity_id=SP_ENTITY, acs=SP_ACS):
    """An AuthnRequest shaped like our SP's (unsigned)."""
    now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    rid = "_" + uuid.uuid4().hex
    xml = f"""<samlp:AuthnRequest xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" ID="{rid}" Version="2.0" IssueInstant="{now}" Destination="{destination}" AssertionConsumerServiceURL="{acs}" ProtocolBinding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST"><saml:Issuer>{entity_id}</saml:Issuer><samlp:NameIDPolicy Format="urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress" AllowCreate="true"/></samlp:AuthnRequest>"""
    return rid, xml


def deflate_b64(xml):
    c = zlib.compressobj(9, zlib.DEFLATED, -15)
    return base64.b64encode(c.compress(xml.encode()) + c.flush()).decode()


class Http:
    def __init__(self, base):
        self.base = base

    def call(self, method, path, body=None, content_type="application/json"):
        url = path if path.startswith("http") else self.base + path
        data = None
        headers = {}
        if body is not None:
            data = body.encode() if isinstance(body, str) else json.dumps(body).encode()
            headers["Content-Type"] = content_type
        req = urllib.request.Request(url, data=data, method=method, headers=headers)
        try:
            with urllib.request.urlopen(req, timeout=30) as r:
                return r.status, r.read().decode()
        except urllib.error.HTTPError as e:
            return e.code, e.read().decode()

    def ok(self, method, path, body=None, content_type="application/json"):
        status, text = self.call(method, path, body, content_type)
        assert status == 200, f"{method} {path}: {status} {text}"
        return text


def parse_form(page):
    action = re.search(r'<form method="post" action="([^"]*)"', page)
    resp = re.search(r'name="SAMLResponse" value="([^"]*)"', page)
    relay = re.search(r'name="RelayState" value="([^"]*)"', page)
    assert action and resp, f"no auto-submit form in: {page[:500]}"
    assert "document.forms[0].submit()" in page
    return html.unescape(action.group(1)), html.unescape(resp.group(1)), relay and html.unescape(relay.group(1))


def make_client(idp_metadata, entity_id=SP_ENTITY, acs=SP_ACS, allow_unsolicited=True):
    conf = SPConfig().load(
        {
            "entityid": entity_id,
            "service": {
                "sp": {
                    "endpoints": {"assertion_consumer_service": [(acs, BINDING_HTTP_POST)]},
                    "want_response_signed": False,
                    "want_assertions_signed": True,
                    "authn_requests_signed": False,
                    "allow_unsolicited": allow_unsolicited,
                    "name_id_format": saml.NAMEID_FORMAT_EMAILADDRESS,
                }
            },
            "metadata": {"inline": [idp_metadata]},
            "xmlsec_binary": shutil.which("xmlsec1"),
            "accepted_time_diff": 5,
        }
    )
    return Saml2Client(config=conf)


RESULTS = []


def check(name, fn):
    try:
        fn()
        RESULTS.append((name, None))
        print(f"ok   {name}", flush=True)
    except Exception as e:  # report and go on
        RESULTS.append((name, e))
        print(f"FAIL {name}: {type(e).__name__}: {e}", flush=True)


def main():
    workdir = tempfile.mkdtemp(prefix="saml-idp-smoke-")
    log_path = os.path.join(workdir, "idp.log")
    log = open(log_path, "w")
    proc = subprocess.Popen(
        [sys.executable, os.path.join(HERE, "saml_idp.py"), "--port", "0", "--workdir", workdir, "--exit-on-stdin-eof"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=log,
        text=True,
    )
    try:
        line = proc.stdout.readline().strip()
        assert line.startswith("READY "), f"IdP said {line!r}"
        base = line.split(" ", 1)[1]
        print(f"IdP at {base}", flush=True)
        run(Http(base))
    finally:
        proc.kill()
        proc.wait()
        log.close()
        failed = sum(1 for _, e in RESULTS if e)
        if failed or not RESULTS:
            with open(log_path) as f:
                print("--- the IdP's log (last 20000 characters) ---\n" + f.read()[-20000:], file=sys.stderr)
        shutil.rmtree(workdir, ignore_errors=True)
    print(f"{len(RESULTS) - failed} passed, {failed} failed")
    sys.exit(1 if failed else 0)


def run(http):
    idp_entity = http.base + "/idp/metadata"
    metadata = http.ok("GET", "/idp/metadata")
    http.ok("POST", "/control/sp", sp_metadata(SP_ENTITY, SP_ACS), "application/samlmetadata+xml")
    client = make_client(metadata)
    strict = make_client(metadata, allow_unsolicited=False)
    state = {}

    def redirect_login(relay="rs-1"):
        """pysaml2's SP sends an AuthnRequest by HTTP-Redirect; returns (request id, form)."""
        reqid, info = client.prepare_for_authenticate(entityid=idp_entity, relay_state=relay, binding=BINDING_HTTP_REDIRECT)
        location = dict(info["headers"])["Location"]
        assert location.startswith(http.base + "/sso/redirect?"), location
        return reqid, parse_form(http.ok("GET", location))

    def verify(reqid, saml_response, client_=None):
        return (client_ or client).parse_authn_request_response(
            saml_response, BINDING_HTTP_POST, outstanding={reqid: "/"}, conv_info={"entity_id": SP_ENTITY}
        )

    def set_next(spec):
        http.ok("POST", "/control/next", spec)

    def last_xml():
        return json.loads(http.ok("GET", "/control/last"))["xml"]

    def refused(reqid, saml_response, client_=None):
        try:
            r = verify(reqid, saml_response, client_)
        except Exception as e:
            return f"{type(e).__name__}: {e}"
        assert r is None, "pysaml2's SP accepted it"
        return "None"

    def login_page_then_form():
        http.ok("POST", "/control/reset")
        reqid, xml = our_authn_request(http.base + "/sso/redirect")
        url = http.base + "/sso/redirect?" + urllib.parse.urlencode({"SAMLRequest": deflate_b64(xml), "RelayState": "/after"})
        page = http.ok("GET", url)
        assert 'id="idp-email"' in page and 'id="idp-submit"' in page, page
        token = html.unescape(re.search(r'name="token" value="([^"]*)"', page).group(1))
        form = parse_form(http.ok("POST", "/login", urllib.parse.urlencode({"token": token, "email": "grace@acme.example"}), "application/x-www-form-urlencoded"))
        assert form[0] == SP_ACS and form[2] == "/after", form
        r = verify(reqid, form[1])
        assert r.name_id.text == "grace@acme.example", r.name_id
        assert r.ava.get("email") == ["grace@acme.example"], r.ava
        assert 'InResponseTo="%s"' % reqid in last_xml()

    check("our AuthnRequest by HTTP-Redirect, login page, signed assertion accepted by pysaml2 SP", login_page_then_form)

    def next_user_redirect():
        set_next({"email": "ada@acme.example", "attributes": {"email": ["ada@acme.example"], "displayName": ["Ada Lovelace"], "givenName": ["Ada"], "sn": ["Lovelace"]}})
        reqid, (action, resp, relay) = redirect_login("rs-42")
        assert action == SP_ACS and relay == "rs-42"
        r = verify(reqid, resp)
        assert r.name_id.format == saml.NAMEID_FORMAT_EMAILADDRESS and r.name_id.text == "ada@acme.example"
        assert r.ava["displayName"] == ["Ada Lovelace"] and r.ava["givenName"] == ["Ada"] and r.ava["sn"] == ["Lovelace"], r.ava
        xml = last_xml()
        assert count_signatures(xml) == 1
        assert "rsa-sha256" in xml and "xmlenc#sha256" in xml
        state["metadata_before_rotate"] = metadata

    check("next user, pysaml2's AuthnRequest by HTTP-Redirect, attributes", next_user_redirect)

    def our_request_by_post():
        set_next({"email": "ada@acme.example", "sign_response": True, "sign_assertion": True})
        reqid, xml = our_authn_request(http.base + "/sso/post")
        body = urllib.parse.urlencode({"SAMLRequest": base64.b64encode(xml.encode()).decode(), "RelayState": "p"})
        action, resp, relay = parse_form(http.ok("POST", "/sso/post", body, "application/x-www-form-urlencoded"))
        assert relay == "p"
        verify(reqid, resp)
        assert count_signatures(last_xml()) == 2, "response and assertion both signed"

    check("our AuthnRequest by HTTP-POST, response and assertion signed", our_request_by_post)

    def sha1():
        set_next({"email": "ada@acme.example", "digest": "sha1", "signature": "rsa-sha1"})
        reqid, (_, resp, _) = redirect_login()
        verify(reqid, resp)
        xml = last_xml()
        assert "xmldsig#rsa-sha1" in xml and "xmldsig#sha1" in xml, xml

    check("rsa-sha1 / sha1 through pysaml2's sign_alg / digest_alg", sha1)

    def formats():
        for fmt, uri in (("persistent", saml.NAMEID_FORMAT_PERSISTENT), ("unspecified", saml.NAMEID_FORMAT_UNSPECIFIED)):
            set_next({"email": "ada@acme.example", "name_id_format": fmt})
            reqid, (_, resp, _) = redirect_login()
            r = verify(reqid, resp)
            assert r.name_id.format == uri, (fmt, r.name_id)

    check("NameID formats persistent and unspecified", formats)

    def other_key():
        set_next({"email": "ada@acme.example", "sign_with_other_key": True})
        reqid, (_, resp, _) = redirect_login()
        why = refused(reqid, resp)
        certs = json.loads(http.ok("GET", "/control/certs"))
        other = "".join(certs["other"].strip().splitlines()[1:-1])
        assert other in last_xml(), "the other certificate is in KeyInfo"
        assert other not in http.ok("GET", "/idp/metadata")
        print(f"     pysaml2 SP refused: {why[:160]}")

    check("sign_with_other_key is refused by pysaml2's SP", other_key)

    def unsigned():
        set_next({"email": "ada@acme.example", "unsigned": True})
        reqid, (_, resp, _) = redirect_login()
        assert count_signatures(last_xml()) == 0
        why = refused(reqid, resp)
        print(f"     pysaml2 SP refused: {why[:160]}")

    check("unsigned is refused by pysaml2's SP (it wants signed assertions)", unsigned)

    overrides = [
        ({"audience": "https://someone-else.example/sp"}, ["<saml:Audience>https://someone-else.example/sp</saml:Audience>"]),
        ({"recipient": "https://elsewhere.example/acs"}, ['Recipient="https://elsewhere.example/acs"']),
        ({"destination": "https://elsewhere.example/acs"}, ['Destination="https://elsewhere.example/acs"']),
        ({"issuer": "https://evil.example/idp"}, [">https://evil.example/idp</saml:Issuer>"]),
        ({"in_response_to": "_not_our_request"}, ['InResponseTo="_not_our_request"']),
        ({"in_response_to": None}, []),
        ({"not_on_or_after_offset_s": -600}, ["NotOnOrAfter="]),
        ({"not_before_offset_s": 600}, ["NotBefore="]),
    ]
    for override, needles in overrides:

        def one(override=override, needles=needles):
            set_next(dict({"email": "ada@acme.example"}, **override))
            reqid, (_, resp, _) = redirect_login()
            last = json.loads(http.ok("GET", "/control/last"))
            xml = last["xml"]
            assert "altered before signing" in last["built_by"], last["built_by"]
            for n in needles:
                assert n in xml, f"{n!r} not in {xml}"
            if override.get("in_response_to", "") is None:
                assert "InResponseTo" not in xml, xml
            if "not_on_or_after_offset_s" in override or "not_before_offset_s" in override:
                key = "NotOnOrAfter" if "not_on_or_after_offset_s" in override else "NotBefore"
                offset = override.get("not_on_or_after_offset_s", override.get("not_before_offset_s"))
                when = re.search(rf'<(?:\w+:)?Conditions[^>]*{key}="([^"]+)"', xml).group(1)
                t = datetime.datetime.strptime(when, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=datetime.timezone.utc)
                delta = (t - datetime.datetime.now(datetime.timezone.utc)).total_seconds()
                assert abs(delta - offset) < 30, (key, when, delta)
            # The altered document is properly signed: verify with xmlsec1 against the metadata cert.
            assert count_signatures(xml) == 1
            verify_with_xmlsec1(last, http)
            if "destination" in override:
                # pysaml2's SP does not hold Destination against its ACS on this path: shown only.
                try:
                    verify(reqid, resp, strict)
                    print(f"     {json.dumps(override)}: pysaml2 SP accepted it (it does not check Destination here)")
                except Exception as e:
                    print(f"     {json.dumps(override)}: pysaml2 SP refused: {type(e).__name__}: {str(e)[:120]}")
                return
            why = refused(reqid, resp, strict)
            print(f"     {json.dumps(override)}: pysaml2 SP refused: {why[:140]}")

        check(f"override {json.dumps(override)} shows in the XML, signed over by xmlsec1", one)

    def failure_status():
        set_next({"status": "urn:oasis:names:tc:SAML:2.0:status:Responder", "status_message": "nope"})
        reqid, (_, resp, _) = redirect_login()
        xml = last_xml()
        assert 'Value="urn:oasis:names:tc:SAML:2.0:status:Responder"' in xml and "nope" in xml, xml
        try:
            verify(reqid, resp)
            raise AssertionError("accepted")
        except StatusError as e:
            print(f"     pysaml2 SP: {type(e).__name__}: {str(e).splitlines()[0][:160]}")

    check("failure status with message", failure_status)

    def unknown_sp_refused():
        http.ok("POST", "/control/reset")
        _, xml = our_authn_request(http.base + "/sso/redirect", entity_id="https://unknown.example/sp", acs="https://unknown.example/acs")
        status, text = http.call("GET", http.base + "/sso/redirect?" + urllib.parse.urlencode({"SAMLRequest": deflate_b64(xml)}))
        assert status == 400, (status, text)

    check("an AuthnRequest from an SP the IdP does not know is refused (400)", unknown_sp_refused)

    def wrong_acs_refused():
        _, xml = our_authn_request(http.base + "/sso/redirect", acs="https://evil.example/acs")
        status, text = http.call("GET", http.base + "/sso/redirect?" + urllib.parse.urlencode({"SAMLRequest": deflate_b64(xml)}))
        assert status == 400, (status, text)

    check("an AuthnRequest whose ACS URL is not in the SP metadata is refused (400)", wrong_acs_refused)

    def second_sp_and_unsolicited():
        http.ok("POST", "/control/sp", sp_metadata(SP2_ENTITY, SP2_ENTITY + "/acs"), "application/samlmetadata+xml")
        action, resp, relay = parse_form(http.ok("POST", "/control/unsolicited", {"sp": SP2_ENTITY, "relay_state": "/home"}))
        assert action == SP2_ENTITY + "/acs" and relay == "/home"
        client2 = make_client(http.ok("GET", "/idp/metadata"), SP2_ENTITY, SP2_ENTITY + "/acs")
        r = client2.parse_authn_request_response(resp, BINDING_HTTP_POST)
        assert r.name_id.text == "ada@acme.example"
        assert "InResponseTo" not in last_xml()
        # The first SP is still known.
        set_next({"email": "ada@acme.example"})
        reqid, (_, resp1, _) = redirect_login()
        verify(reqid, resp1)

    check("a second SP; IdP-initiated (unsolicited) response accepted by pysaml2 SP", second_sp_and_unsolicited)

    def post_only_metadata():
        http.ok("POST", "/control/post_only", {"post_only": True})
        md = http.ok("GET", "/idp/metadata")
        assert "HTTP-Redirect" not in md and "HTTP-POST" in md
        http.ok("POST", "/control/post_only", {"post_only": False})
        assert "HTTP-Redirect" in http.ok("GET", "/idp/metadata")

    check("post_only metadata offers only HTTP-POST", post_only_metadata)

    def rotate():
        set_next({"email": "ada@acme.example"})
        http.ok("POST", "/control/rotate")
        reqid, (_, resp, _) = redirect_login()
        why = refused(reqid, resp)  # the SP still holds the old metadata
        print(f"     old metadata, new key: pysaml2 SP refused: {why[:120]}")
        new_md = http.ok("GET", "/idp/metadata")
        assert new_md != state["metadata_before_rotate"]
        fresh = make_client(new_md)
        reqid, (_, resp, _) = redirect_login()
        verify(reqid, resp, fresh)

    check("rotate: old metadata refused, re-fetched metadata accepted", rotate)


def count_signatures(xml):
    return len(re.findall(r"<(?:\w+:)?SignatureValue", xml))


def verify_with_xmlsec1(last, http):
    """xmlsec1 checks every signature in the document against the certificate in the metadata."""
    xml = last["xml"]
    md = http.ok("GET", "/idp/metadata")
    cert_b64 = re.search(r"<(?:\w+:)?X509Certificate>([^<]+)</(?:\w+:)?X509Certificate>", md).group(1)
    d = tempfile.mkdtemp()
    try:
        pem = os.path.join(d, "idp.crt")
        with open(pem, "w") as f:
            f.write("-----BEGIN CERTIFICATE-----\n" + cert_b64 + "\n-----END CERTIFICATE-----\n")
        doc = os.path.join(d, "r.xml")
        with open(doc, "w") as f:
            f.write(xml)
        ids = [last["assertion_id"]]
        if count_signatures(xml) > 1:
            ids.append(last["response_id"])
        for node in ids:
            out = subprocess.run(
                [
                    "xmlsec1", "--verify", "--enabled-key-data", "raw-x509-cert", "--pubkey-cert-pem", pem,
                    "--id-attr:ID", "urn:oasis:names:tc:SAML:2.0:assertion:Assertion",
                    "--id-attr:ID", "urn:oasis:names:tc:SAML:2.0:protocol:Response",
                    "--node-id", node, doc,
                ],
                capture_output=True,
                text=True,
            )
            assert out.returncode == 0, f"xmlsec1 --verify {node}: {out.stderr}"
    finally:
        shutil.rmtree(d, ignore_errors=True)


if __name__ == "__main__":
    main()
