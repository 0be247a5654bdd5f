#!/usr/bin/env python3
"""A SAML 2.0 identity provider for the integration tests, built on pysaml2 (not our code).

pysaml2's Server parses the service provider's AuthnRequest (checking it against the SP
metadata it was given) and creates the Response, which xmlsec1 signs. Control endpoints
under /control/ let a test choose what the next Response looks like, including broken ones.

    python saml_idp.py [--port 0] [--workdir DIR] [--exit-on-stdin-eof]

prints exactly one line `READY http://127.0.0.1:PORT` on stdout once it listens; everything
else goes to stderr. See README.md beside this file.
"""

import argparse
import base64
import datetime
import hashlib
import html
import json
import logging
import os
import secrets
import shutil
import sys
import tempfile
import threading
import traceback
import urllib.parse
import warnings
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

# pysaml2 touches a cipher mode that cryptography has deprecated; nothing here uses it.
warnings.filterwarnings("ignore", message=".*CFB.*")

import saml2  # noqa: E402
from saml2 import BINDING_HTTP_POST, BINDING_HTTP_REDIRECT, saml, samlp, xmldsig
from saml2.assertion import Policy
from saml2.config import IdPConfig
from saml2.metadata import entity_descriptor
from saml2.s_utils import error_status_factory, sid
from saml2.time_util import instant
from saml2.saml import NAME_FORMAT_BASIC, NAME_FORMAT_URI
from saml2.server import Server
from saml2.sigver import pre_signature_part, signed_instance_factory

log = logging.getLogger("saml_idp")

NAMEID_FORMATS = {
    "email": saml.NAMEID_FORMAT_EMAILADDRESS,
    "persistent": saml.NAMEID_FORMAT_PERSISTENT,
    "unspecified": saml.NAMEID_FORMAT_UNSPECIFIED,
    "transient": saml.NAMEID_FORMAT_TRANSIENT,
}
SIGN_ALGS = {
    "rsa-sha256": xmldsig.SIG_RSA_SHA256,
    "rsa-sha1": xmldsig.SIG_RSA_SHA1,
    "rsa-sha512": xmldsig.SIG_RSA_SHA512,
}
DIGEST_ALGS = {
    "sha256": xmldsig.DIGEST_SHA256,
    "sha1": xmldsig.DIGEST_SHA1,
    "sha512": xmldsig.DIGEST_SHA512,
}
NSPAIR = {"samlp": samlp.NAMESPACE, "saml": saml.NAMESPACE, "ds": xmldsig.NAMESPACE}
NAME_FORMS = {"uri": NAME_FORMAT_URI, "basic": NAME_FORMAT_BASIC}
TOP_LEVEL_STATUS = {samlp.STATUS_SUCCESS, samlp.STATUS_REQUESTER, samlp.STATUS_RESPONDER, samlp.STATUS_VERSION_MISMATCH}

# The keys of /control/next; anything else is refused so that a typo in a test shows.
NEXT_KEYS = {
    "email", "name_id_format", "name_id", "attributes", "name_form", "sign_response", "sign_assertion",
    "digest", "signature", "sign_with_other_key", "audience", "recipient", "destination", "issuer",
    "in_response_to", "not_on_or_after_offset_s", "not_before_offset_s", "status", "status_message",
    "unsigned", "encrypt_assertion",
}
# Keys that pysaml2 has no parameter for: the Response is built unsigned, altered, then signed.
ALTERING_KEYS = {
    "audience", "recipient", "destination", "issuer", "in_response_to", "not_on_or_after_offset_s",
    "not_before_offset_s",
}


class BadRequest(Exception):
    """Answered as 400 with the message."""


def make_key_pair(folder, label, common_name):
    """An RSA-2048 key and a self-signed certificate (PEM files); returns (key_path, cert_path)."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=365))
        .sign(key, hashes.SHA256())
    )
    key_path = os.path.join(folder, f"{label}.key")
    cert_path = os.path.join(folder, f"{label}.crt")
    with open(key_path, "wb") as f:
        f.write(
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.TraditionalOpenSSL,
                serialization.NoEncryption(),
            )
        )
    with open(cert_path, "wb") as f:
        f.write(cert.public_bytes(serialization.Encoding.PEM))
    return key_path, cert_path


def auto_submit_form(action, saml_response_b64, relay_state):
    """The page that POSTs the Response to the ACS: by JavaScript on load, or by its button."""
    relay = ""
    if relay_state is not None:
        relay = f'<input type="hidden" name="RelayState" value="{html.escape(relay_state, quote=True)}"/>\n'
    return f"""<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>Signing you in</title></head>
<body onload="document.forms[0].submit()">
<form method="post" action="{html.escape(action, quote=True)}">
<input type="hidden" name="SAMLResponse" value="{html.escape(saml_response_b64, quote=True)}"/>
{relay}<noscript><p>JavaScript is off: press the button to go on.</p></noscript>
<button type="submit" id="idp-continue">Continue</button>
</form>
</body></html>
"""


def login_page(token, sp_entity_id):
    return f"""<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>Test IdP sign-in</title></head>
<body>
<h1>Test identity provider</h1>
<p>Signing in to {html.escape(sp_entity_id)}</p>
<form method="post" action="/login">
<input type="hidden" name="token" value="{html.escape(token, quote=True)}"/>
<label for="idp-email">Email</label>
<input type="email" name="email" id="idp-email" required/>
<button type="submit" id="idp-submit">Sign in</button>
</form>
</body></html>
"""


class IdP:
    """The state: keys, known SPs, the next-response settings, pending requests, last response."""

    def __init__(self, base, workdir, sso_base=None):
        self.base = base
        # Where browsers reach the SSO endpoints (another host name: another site than the SP).
        self.sso_base = sso_base or base
        self.workdir = workdir
        self.lock = threading.RLock()
        self.sp_metadata = {}  # entity ID -> metadata XML (a later one for the same ID replaces it)
        self.post_only = False
        self.generation = 0
        self.key_file, self.cert_file = make_key_pair(workdir, "signing-0", "saml-idp-test signing 0")
        # The other key: never in the metadata.
        self.other_key_file, self.other_cert_file = make_key_pair(workdir, "other", "saml-idp-test other key")
        self.next = None
        self.pending = {}  # login token -> (sp_entity_id, response args, relay_state)
        self.last = None
        self._servers = None

    # --- pysaml2 configuration -------------------------------------------------------------

    def entity_id(self):
        return f"{self.base}/idp/metadata"

    def config_dict(self, key_file, cert_file, post_only=False):
        sso = [(f"{self.sso_base}/sso/post", BINDING_HTTP_POST)]
        if not post_only:
            sso.insert(0, (f"{self.sso_base}/sso/redirect", BINDING_HTTP_REDIRECT))
        return {
            "entityid": self.entity_id(),
            "name": "smartcore test IdP (pysaml2)",
            "service": {
                "idp": {
                    "name": "smartcore test IdP (pysaml2)",
                    "endpoints": {"single_sign_on_service": sso},
                    "policy": {
                        "default": {
                            "lifetime": {"minutes": 5},
                            "attribute_restrictions": None,
                            "name_form": NAME_FORMAT_URI,
                            "sign_response": False,
                            "sign_assertion": True,
                        }
                    },
                    "name_id_format": [
                        saml.NAMEID_FORMAT_EMAILADDRESS,
                        saml.NAMEID_FORMAT_PERSISTENT,
                        saml.NAMEID_FORMAT_UNSPECIFIED,
                    ],
                    "want_authn_requests_signed": False,
                    "sign_response": False,
                    "sign_assertion": True,
                }
            },
            "key_file": key_file,
            "cert_file": cert_file,
            "xmlsec_binary": shutil.which("xmlsec1"),
            "metadata": {"inline": list(self.sp_metadata.values())},
            "accepted_time_diff": 60,
        }

    def servers(self):
        """(signing server, other-key server), rebuilt after a change of SPs or keys."""
        if self._servers is None:
            main = Server(config=IdPConfig().load(self.config_dict(self.key_file, self.cert_file)))
            other = Server(config=IdPConfig().load(self.config_dict(self.other_key_file, self.other_cert_file)))
            self._servers = (main, other)
        return self._servers

    def metadata_xml(self):
        conf = IdPConfig().load(self.config_dict(self.key_file, self.cert_file, post_only=self.post_only))
        return str(entity_descriptor(conf))

    # --- control ---------------------------------------------------------------------------

    def add_sp(self, xml):
        from saml2.mdstore import InMemoryMetaData

        md = InMemoryMetaData(None, xml)
        try:
            md.load()
        except Exception as e:  # pysaml2 raises several kinds for bad metadata
            raise BadRequest(f"pysaml2 could not read the SP metadata: {e}")
        ids = [eid for eid, ent in md.items() if "spsso_descriptor" in ent]
        if not ids:
            raise BadRequest("the metadata has no SPSSODescriptor")
        for eid in ids:
            self.sp_metadata[eid] = xml
        self._servers = None
        return ids

    def set_next(self, spec):
        if not isinstance(spec, dict):
            raise BadRequest("the body must be a JSON object")
        unknown = set(spec) - NEXT_KEYS
        if unknown:
            raise BadRequest(f"unknown keys: {sorted(unknown)}; known: {sorted(NEXT_KEYS)}")
        if spec.get("encrypt_assertion"):
            raise BadRequest("encrypt_assertion is not supported: our SP publishes no encryption key")
        for key, table in (("name_id_format", NAMEID_FORMATS), ("signature", SIGN_ALGS), ("digest", DIGEST_ALGS), ("name_form", NAME_FORMS)):
            if key in spec and spec[key] not in table:
                raise BadRequest(f"{key} must be one of {sorted(table)}")
        self.next = spec

    def rotate(self):
        self.generation += 1
        self.key_file, self.cert_file = make_key_pair(
            self.workdir, f"signing-{self.generation}", f"saml-idp-test signing {self.generation}"
        )
        self._servers = None

    def reset(self):
        self.next = None
        self.pending.clear()
        self.last = None
        self.post_only = False

    def cert_pem(self, path):
        with open(path) as f:
            return f.read()

    # --- SSO ---------------------------------------------------------------------------------

    def receive_authn_request(self, saml_request, binding, relay_state):
        """Parses the AuthnRequest; returns (html page)."""
        server, _ = self.servers()
        try:
            req = server.parse_authn_request(saml_request, binding)
        except Exception as e:
            raise BadRequest(f"pysaml2 refused the AuthnRequest: {type(e).__name__}: {e}")
        if req is None:
            raise BadRequest("pysaml2 refused the AuthnRequest (see the log)")
        message = req.message
        sp_entity_id = message.issuer.text if message.issuer is not None else None
        if sp_entity_id not in self.sp_metadata:
            raise BadRequest(f"unknown SP {sp_entity_id!r}: POST its metadata to /control/sp first")
        try:
            args = server.response_args(message)
        except Exception as e:
            raise BadRequest(f"pysaml2 refused the AuthnRequest against the SP metadata: {type(e).__name__}: {e}")
        log.info("AuthnRequest %s from %s, ACS %s", message.id, sp_entity_id, args.get("destination"))
        if self.next is not None and (self.next.get("email") or self.next.get("status")):
            return self.respond(sp_entity_id, args, relay_state, self.next.get("email"))
        token = secrets.token_urlsafe(16)
        self.pending[token] = (sp_entity_id, args, relay_state)
        return login_page(token, sp_entity_id)

    def login(self, token, email):
        if token not in self.pending:
            raise BadRequest("unknown or used login token")
        if not email:
            raise BadRequest("email is required")
        sp_entity_id, args, relay_state = self.pending.pop(token)
        return self.respond(sp_entity_id, args, relay_state, email)

    def unsolicited(self, sp_entity_id, relay_state):
        if sp_entity_id not in self.sp_metadata:
            raise BadRequest(f"unknown SP {sp_entity_id!r}")
        server, _ = self.servers()
        acs = server.metadata.assertion_consumer_service(sp_entity_id, BINDING_HTTP_POST)
        if not acs:
            raise BadRequest("the SP has no HTTP-POST AssertionConsumerService")
        args = {"destination": acs[0]["location"], "in_response_to": None, "sp_entity_id": sp_entity_id, "name_id_policy": None}
        email = (self.next or {}).get("email") or "ada@acme.example"
        return self.respond(sp_entity_id, args, relay_state, email)

    def respond(self, sp_entity_id, args, relay_state, email):
        spec = dict(self.next or {})
        xml, info = self.build_response(spec, sp_entity_id, args, email)
        b64 = base64.b64encode(xml.encode("utf-8")).decode("ascii")
        self.last = dict(info, saml_response=b64, xml=xml, relay_state=relay_state, acs=args["destination"], sp=sp_entity_id)
        return auto_submit_form(args["destination"], b64, relay_state)

    def build_response(self, spec, sp_entity_id, args, email):
        main, other = self.servers()
        server = other if spec.get("sign_with_other_key") else main
        unsigned = bool(spec.get("unsigned"))
        sign_response = bool(spec.get("sign_response", False)) and not unsigned
        sign_assertion = bool(spec.get("sign_assertion", True)) and not unsigned
        sign_alg = SIGN_ALGS[spec.get("signature", "rsa-sha256")]
        digest_alg = DIGEST_ALGS[spec.get("digest", "sha256")]
        in_response_to = args.get("in_response_to")
        destination = args["destination"]

        if spec.get("status") and spec["status"] != samlp.STATUS_SUCCESS:
            return self.build_error(server, spec, in_response_to, destination, sign_response, sign_alg, digest_alg)

        fmt = NAMEID_FORMATS[spec.get("name_id_format", "email")]
        if spec.get("name_id"):
            name_id_value = spec["name_id"]
        elif fmt == saml.NAMEID_FORMAT_PERSISTENT:
            name_id_value = hashlib.sha256(f"{sp_entity_id}|{email}".encode()).hexdigest()[:32]
        elif fmt == saml.NAMEID_FORMAT_TRANSIENT:
            name_id_value = "_" + secrets.token_hex(16)
        else:
            name_id_value = email
        name_id = saml.NameID(format=fmt, text=name_id_value, sp_name_qualifier=sp_entity_id if fmt == saml.NAMEID_FORMAT_PERSISTENT else None)
        identity = spec.get("attributes")
        if identity is None:
            identity = {"email": [email]}
        identity = {k: (v if isinstance(v, list) else [v]) for k, v in identity.items()}
        policy_name_form = NAME_FORMS[spec.get("name_form", "uri")]
        policy = Policy(
            {"default": {"lifetime": {"minutes": 5}, "attribute_restrictions": None, "name_form": policy_name_form}},
            server.metadata,
        )
        authn = {"class_ref": saml.AUTHN_PASSWORD_PROTECTED, "authn_auth": self.entity_id()}

        altering = sorted(k for k in ALTERING_KEYS if k in spec)
        common = dict(
            identity=identity,
            in_response_to=in_response_to,
            destination=destination,
            sp_entity_id=sp_entity_id,
            name_id=name_id,
            authn=authn,
            release_policy=policy,
            sign_alg=sign_alg,
            digest_alg=digest_alg,
        )
        if not altering:
            # pysaml2 does everything itself: its own sign_response / sign_assertion / algorithms.
            out = server.create_authn_response(sign_response=sign_response, sign_assertion=sign_assertion, **common)
            xml = out if isinstance(out, str) else out.to_string().decode("utf-8")
            built_by = "pysaml2"
        else:
            # pysaml2 has no knob for these: build unsigned, alter, then sign with pysaml2/xmlsec1.
            out = server.create_authn_response(sign_response=False, sign_assertion=False, **common)
            text = out if isinstance(out, str) else out.to_string().decode("utf-8")
            response = samlp.response_from_string(text)
            self.alter(response, spec)
            xml = self.sign(server, response, sign_response, sign_assertion, sign_alg, digest_alg)
            built_by = "pysaml2, altered before signing: " + ", ".join(altering)
        parsed = samlp.response_from_string(xml)
        assertion_id = parsed.assertion[0].id if parsed.assertion else None
        return xml, {"response_id": parsed.id, "assertion_id": assertion_id, "built_by": built_by}

    def build_error(self, server, spec, in_response_to, destination, sign_response, sign_alg, digest_alg):
        status_value = spec["status"]
        message = spec.get("status_message") or "the test IdP was told to fail"
        status = error_status_factory((status_value, message))
        if status_value in TOP_LEVEL_STATUS:
            # pysaml2 always nests the code under Responder; a top-level code stands alone.
            status.status_code = samlp.StatusCode(value=status_value)
        response = samlp.Response(
            id=sid(),
            version=saml2.VERSION,
            issue_instant=instant(),
            issuer=server._issuer(),
            in_response_to=in_response_to,
            destination=destination,
            status=status,
        )
        self.alter(response, spec)
        xml = self.sign(server, response, sign_response, False, sign_alg, digest_alg)
        built_by = "pysaml2 samlp.Response with error_status_factory"
        return xml, {"response_id": response.id, "assertion_id": None, "built_by": built_by}

    def alter(self, response, spec):
        """Applies the overrides that pysaml2 has no parameter for, on the unsigned objects."""
        now = datetime.datetime.now(datetime.timezone.utc)

        def at(offset):
            t = now + datetime.timedelta(seconds=int(offset))
            return t.strftime("%Y-%m-%dT%H:%M:%SZ")

        if "destination" in spec:
            response.destination = spec["destination"]
        if "issuer" in spec:
            response.issuer = saml.Issuer(text=spec["issuer"], format=saml.NAMEID_FORMAT_ENTITY)
        if "in_response_to" in spec:
            response.in_response_to = spec["in_response_to"]
        for assertion in response.assertion:
            if "issuer" in spec:
                assertion.issuer = saml.Issuer(text=spec["issuer"], format=saml.NAMEID_FORMAT_ENTITY)
            confirmations = assertion.subject.subject_confirmation if assertion.subject else []
            for sc in confirmations:
                data = sc.subject_confirmation_data
                if data is None:
                    continue
                if "recipient" in spec:
                    data.recipient = spec["recipient"]
                if "in_response_to" in spec:
                    data.in_response_to = spec["in_response_to"]
                if "not_on_or_after_offset_s" in spec:
                    data.not_on_or_after = at(spec["not_on_or_after_offset_s"])
            cond = assertion.conditions
            if cond is None:
                cond = assertion.conditions = saml.Conditions()
            if "audience" in spec:
                cond.audience_restriction = [saml.AudienceRestriction(audience=[saml.Audience(text=spec["audience"])])]
            if "not_on_or_after_offset_s" in spec:
                cond.not_on_or_after = at(spec["not_on_or_after_offset_s"])
            if "not_before_offset_s" in spec:
                cond.not_before = at(spec["not_before_offset_s"])

    def sign(self, server, response, sign_response, sign_assertion, sign_alg, digest_alg):
        """Signs as pysaml2 does (assertion first, then the enveloping response) with xmlsec1."""
        to_sign = []
        if sign_assertion:
            for assertion in response.assertion:
                assertion.signature = pre_signature_part(assertion.id, server.sec.my_cert, 1, sign_alg=sign_alg, digest_alg=digest_alg)
                to_sign.append((saml2.class_name(assertion), assertion.id))
        if sign_response:
            response.signature = pre_signature_part(response.id, server.sec.my_cert, 2, sign_alg=sign_alg, digest_alg=digest_alg)
            to_sign.append((saml2.class_name(response), response.id))
        # Serialised with the usual prefixes (as pysaml2's own path does), then signed by xmlsec1.
        text = response.to_string(nspair=NSPAIR).decode("utf-8")
        out = signed_instance_factory(text, server.sec, to_sign)
        return out if isinstance(out, str) else out.decode("utf-8")


class Handler(BaseHTTPRequestHandler):
    idp = None  # set in main
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):
        sys.stderr.write("saml_idp: %s %s\n" % (self.address_string(), fmt % args))

    def send(self, status, body, content_type="text/html; charset=utf-8"):
        data = body.encode("utf-8") if isinstance(body, str) else body
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        self.wfile.write(data)

    def send_json(self, status, value):
        self.send(status, json.dumps(value, indent=1), "application/json")

    def body(self):
        # Read once, up front in dispatch: a body left unread would prefix the next request
        # on a kept-alive connection.
        return self._raw

    def form(self):
        return {k: v[0] for k, v in urllib.parse.parse_qs(self.body().decode("utf-8"), keep_blank_values=True).items()}

    def json_body(self):
        raw = self.body()
        if not raw.strip():
            return {}
        try:
            return json.loads(raw)
        except json.JSONDecodeError as e:
            raise BadRequest(f"the body is not JSON: {e}")

    def do_GET(self):
        self.dispatch("GET")

    def do_POST(self):
        self.dispatch("POST")

    def dispatch(self, method):
        length = int(self.headers.get("Content-Length") or 0)
        self._raw = self.rfile.read(length) if length else b""
        url = urllib.parse.urlsplit(self.path)
        route = (method, url.path)
        idp = self.idp
        try:
            with idp.lock:
                if route == ("GET", "/idp/metadata"):
                    return self.send(200, idp.metadata_xml(), "application/samlmetadata+xml")
                if route == ("GET", "/sso/redirect"):
                    q = {k: v[0] for k, v in urllib.parse.parse_qs(url.query, keep_blank_values=True).items()}
                    if "SAMLRequest" not in q:
                        raise BadRequest("SAMLRequest is missing")
                    return self.send(200, idp.receive_authn_request(q["SAMLRequest"], BINDING_HTTP_REDIRECT, q.get("RelayState")))
                if route == ("POST", "/sso/post"):
                    f = self.form()
                    if "SAMLRequest" not in f:
                        raise BadRequest("SAMLRequest is missing")
                    return self.send(200, idp.receive_authn_request(f["SAMLRequest"], BINDING_HTTP_POST, f.get("RelayState")))
                if route == ("POST", "/login"):
                    f = self.form()
                    return self.send(200, idp.login(f.get("token", ""), f.get("email", "").strip()))
                if route == ("POST", "/control/sp"):
                    ids = idp.add_sp(self.body().decode("utf-8"))
                    return self.send_json(200, {"sp_entity_ids": ids, "known": sorted(idp.sp_metadata)})
                if route == ("POST", "/control/next"):
                    idp.set_next(self.json_body())
                    return self.send_json(200, {"next": idp.next})
                if route == ("POST", "/control/reset"):
                    idp.reset()
                    return self.send_json(200, {"reset": True})
                if route == ("POST", "/control/post_only"):
                    body = self.json_body()
                    idp.post_only = bool(body.get("post_only", True))
                    return self.send_json(200, {"post_only": idp.post_only})
                if route == ("GET", "/control/last"):
                    if idp.last is None:
                        return self.send_json(404, {"error": "no response produced yet"})
                    return self.send_json(200, idp.last)
                if route == ("POST", "/control/rotate"):
                    idp.rotate()
                    return self.send_json(200, {"cert": idp.cert_pem(idp.cert_file), "generation": idp.generation})
                if route == ("GET", "/control/certs"):
                    return self.send_json(200, {"signing": idp.cert_pem(idp.cert_file), "other": idp.cert_pem(idp.other_cert_file)})
                if route == ("POST", "/control/unsolicited"):
                    body = self.json_body()
                    if not body.get("sp"):
                        raise BadRequest("sp (the SP entity ID) is required")
                    return self.send(200, idp.unsolicited(body["sp"], body.get("relay_state")))
            self.send_json(404, {"error": f"no route {method} {url.path}"})
        except BadRequest as e:
            log.warning("400 %s %s: %s", method, url.path, e)
            self.send_json(400, {"error": str(e)})
        except Exception as e:
            traceback.print_exc()
            self.send_json(500, {"error": f"{type(e).__name__}: {e}"})


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=0, help="0: any free port (printed)")
    parser.add_argument("--workdir", help="folder for keys (created; default: a temporary folder removed at exit)")
    parser.add_argument("--exit-on-stdin-eof", action="store_true", help="exit when standard input closes (the parent is gone)")
    parser.add_argument("--sso-host", help="host name in the SSO endpoints' URLs (default 127.0.0.1; e.g. localhost, so that a browser sees another site than an SP at 127.0.0.1)")
    parser.add_argument("--debug", action="store_true")
    args = parser.parse_args()
    logging.basicConfig(stream=sys.stderr, level=logging.DEBUG if args.debug else logging.INFO, format="saml_idp: %(levelname)s %(name)s: %(message)s")
    logging.getLogger("saml2").setLevel(logging.DEBUG if args.debug else logging.WARNING)

    if not shutil.which("xmlsec1"):
        sys.exit("saml_idp: xmlsec1 is not on PATH (apt-get install xmlsec1)")
    own_dir = None
    if args.workdir:
        os.makedirs(args.workdir, exist_ok=True)
        workdir = args.workdir
    else:
        workdir = own_dir = tempfile.mkdtemp(prefix="saml-idp-")

    httpd = ThreadingHTTPServer(("127.0.0.1", args.port), Handler)
    httpd.daemon_threads = True
    base = f"http://127.0.0.1:{httpd.server_address[1]}"
    sso_base = f"http://{args.sso_host}:{httpd.server_address[1]}" if args.sso_host else None
    Handler.idp = IdP(base, workdir, sso_base)
    Handler.idp.servers()  # fail early if pysaml2 or xmlsec1 cannot be set up

    if args.exit_on_stdin_eof:
        def watch():
            try:
                while sys.stdin.buffer.read(4096):
                    pass
            finally:
                os._exit(0)

        threading.Thread(target=watch, daemon=True).start()

    print(f"READY {base}", flush=True)
    try:
        httpd.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        if own_dir:
            shutil.rmtree(own_dir, ignore_errors=True)


if __name__ == "__main__":
    main()
