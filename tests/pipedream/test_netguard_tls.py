"""The name check of the egress guard (netguard.cjs): the stub service presents one certificate for every name
(harness/stubs/_tls.py), which the guard accepts, by its fingerprint, in place of the name a client asked for;
every other certificate is checked as Node checks it, and a client's own `checkServerIdentity` still decides
for itself. The chain is verified either way (NODE_EXTRA_CA_CERTS, as the host gives it)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import trustme

from hallsim.harness.pipedream import _host
from hallsim.harness.stubs._tls import StubAuthority

from .conftest import node_module_json

NETGUARD = Path(_host.__file__).with_name("netguard.cjs")

# each case: which certificate the server at the stub's port presents, and how the client connects
SCRIPT = """
import { createRequire } from "node:module";
import { readFileSync } from "node:fs";
import tls from "node:tls";
const guard = createRequire(import.meta.url)(%(netguard)s);
guard.install();
const given = %(given)s;
const results = {};
for (const [name, [pemFile, how]] of Object.entries(given.cases)) {
  const pem = readFileSync(pemFile, "utf8");
  const server = tls.createServer({ key: pem, cert: pem }, (socket) => socket.end());
  await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
  // everything not allowed goes to the stub: here, this server
  const stub = { address: "127.0.0.1", port: server.address().port, fingerprint256: given.fingerprint };
  guard.configure({ allow: [], names: [], stub });
  results[name] = await new Promise((resolve) => {
    const done = resolve;
    // an IP address (loopback, not the stub's): Node sends no server name (RFC 6066 3), and checks the
    // address against the certificate
    const name = "crm.example.invalid";
    const byName = { host: name, port: 443, servername: name };
    const options = how === "by IP" ? { host: "127.0.0.2", port: 443 } : byName;
    if (how === "own check") options.checkServerIdentity = () => new Error("pinned elsewhere");
    const socket = tls.connect(options, () => {
      done(socket.authorized ? "ok" : "unauthorized");
      socket.destroy();
    });
    socket.on("error", (err) => done(err.code ?? err.message));
  });
  server.close();
}
process.stdout.write(JSON.stringify(results));
process.exit(0);
"""


@pytest.fixture(scope="module")
def pem_files(tmp_path_factory: pytest.TempPathFactory) -> tuple[StubAuthority, dict[str, Path]]:
    folder = tmp_path_factory.mktemp("netguard-tls")
    authority = StubAuthority.load(folder / "kept")
    service = folder / "service.pem"
    service.write_bytes(authority.pems.service_key + authority.pems.service_cert)
    # the same authority's signature on a certificate for another name: only the name check can refuse it
    other = folder / "other.pem"
    ca = trustme.CA.from_pem(authority.pems.ca_cert, authority.pems.ca_key)
    ca.issue_cert("other.invalid").private_key_and_cert_chain_pem.write_to_path(str(other))
    # a certificate no trusted authority signed, for the very name asked for
    stranger = folder / "stranger.pem"
    trustme.CA().issue_cert("crm.example.invalid").private_key_and_cert_chain_pem.write_to_path(str(stranger))
    return authority, {"service": service, "other": other, "stranger": stranger}


def test_the_stub_certificate_passes_for_any_name_and_no_other_certificate_does(
    pem_files: tuple[StubAuthority, dict[str, Path]],
) -> None:
    authority, pems = pem_files
    cases = {
        "stub certificate, a name it does not carry": [str(pems["service"]), "tls.connect"],
        "stub certificate, an IP address": [str(pems["service"]), "by IP"],
        "stub certificate, the client's own checkServerIdentity": [str(pems["service"]), "own check"],
        "another certificate of the same authority": [str(pems["other"]), "tls.connect"],
        "a certificate for the name, from an unknown authority": [str(pems["stranger"]), "tls.connect"],
    }
    given = {"cases": cases, "fingerprint": authority.fingerprint256}
    script = SCRIPT % {"netguard": json.dumps(str(NETGUARD)), "given": json.dumps(given)}
    results = node_module_json(script, env={"NODE_EXTRA_CA_CERTS": str(authority.ca_file)})
    assert results == {
        "stub certificate, a name it does not carry": "ok",
        "stub certificate, an IP address": "ok",
        "stub certificate, the client's own checkServerIdentity": "pinned elsewhere",
        "another certificate of the same authority": "ERR_TLS_CERT_ALTNAME_INVALID",
        "a certificate for the name, from an unknown authority": "UNABLE_TO_VERIFY_LEAF_SIGNATURE",
    }
