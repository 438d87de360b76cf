#!/usr/bin/env python3
"""tests/integration/credserver.py - the credential services an AWS host
offers, on 127.0.0.1, handing out the test S3 server's real keys: EC2
instance metadata (IMDSv2 only: every GET needs the token from the PUT),
the container endpoint (with an Authorization check), and STS
(AssumeRoleWithWebIdentity checks the token against a file; AssumeRole
verifies the request's SigV4 signature with the source keys it was told).

usage: credserver.py PORTFILE LOGFILE CTLFILE
  PORTFILE   the chosen port is written here once listening
  LOGFILE    one line per credential handed out or refused: "KIND ok|refused"
  CTLFILE    read at each request, KEY=VALUE lines:
               lifetime=SECONDS   of the keys handed out (default 3600)
               fail=1             every credential request answers 500
               container_auth=V   the Authorization the container endpoint wants
               web_token_file=F   the file whose content AssumeRoleWithWebIdentity wants
               source_key=AK:SK   the keys AssumeRole requests must be signed with
               region=R           what placement/region says
               sso_token=T        the bearer token the SSO portal wants
The keys handed out are $AWS_ACCESS_KEY_ID / $AWS_SECRET_ACCESS_KEY of the
environment; each carries a fresh session token "KIND-N".
"""
import datetime
import hashlib
import hmac
import http.server
import json
import os
import socketserver
import sys
import urllib.parse

PORTFILE, LOGFILE, CTLFILE = sys.argv[1:4]
AK = os.environ["AWS_ACCESS_KEY_ID"]
SK = os.environ["AWS_SECRET_ACCESS_KEY"]
IMDS_TOKEN = "imds-session-token-1"
counter = [0]


def ctl():
    conf = {"lifetime": "3600"}
    try:
        with open(CTLFILE) as f:
            for line in f:
                if "=" in line:
                    k, v = line.rstrip("\n").split("=", 1)
                    conf[k] = v
    except FileNotFoundError:
        pass
    return conf


def log(kind, what):
    with open(LOGFILE, "a") as f:
        f.write("%s %s\n" % (kind, what))


def creds(kind, conf):
    counter[0] += 1
    exp = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(seconds=float(conf["lifetime"]))
    return {"AccessKeyId": AK, "SecretAccessKey": SK, "Token": "%s-%d" % (kind, counter[0]),
            "Expiration": exp.strftime("%Y-%m-%dT%H:%M:%SZ")}


def sigv4_ok(method, path, headers, body, key):
    """Whether the Authorization header is AWS SigV4 of this request with key (AK:SK)."""
    ak, sk = key.split(":", 1)
    auth = headers.get("Authorization", "")
    if not auth.startswith("AWS4-HMAC-SHA256 "):
        return False
    parts = dict(p.strip().split("=", 1) for p in auth[len("AWS4-HMAC-SHA256 "):].split(","))
    cred = parts["Credential"].split("/")
    if cred[0] != ak or cred[3] != "sts" or cred[4] != "aws4_request":
        return False
    signed = parts["SignedHeaders"].split(";")
    if "host" not in signed or "x-amz-date" not in signed:
        return False
    payload = hashlib.sha256(body).hexdigest()
    if headers.get("x-amz-content-sha256", payload) != payload:
        return False
    canon_headers = "".join("%s:%s\n" % (h, " ".join(headers.get(h, "").split())) for h in signed)
    creq = "\n".join([method, path, "", canon_headers, ";".join(signed), payload])
    amz_date = headers["x-amz-date"]
    scope = "/".join(cred[1:])
    sts = "\n".join(["AWS4-HMAC-SHA256", amz_date, scope, hashlib.sha256(creq.encode()).hexdigest()])
    k = ("AWS4" + sk).encode()
    for part in cred[1:5]:
        k = hmac.new(k, part.encode(), hashlib.sha256).digest()
    want = hmac.new(k, sts.encode(), hashlib.sha256).hexdigest()
    return hmac.compare_digest(want, parts["Signature"])


def sts_xml(action, c):
    return ("<%sResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\"><%sResult>"
            "<Credentials><AccessKeyId>%s</AccessKeyId><SecretAccessKey>%s</SecretAccessKey>"
            "<SessionToken>%s</SessionToken><Expiration>%s</Expiration></Credentials>"
            "</%sResult><ResponseMetadata><RequestId>r-1</RequestId></ResponseMetadata></%sResponse>"
            % (action, action, c["AccessKeyId"], c["SecretAccessKey"], c["Token"], c["Expiration"],
               action, action))


def sts_error(code, msg):
    return ("<ErrorResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\"><Error><Type>Sender</Type>"
            "<Code>%s</Code><Message>%s</Message></Error><RequestId>r-2</RequestId></ErrorResponse>"
            % (code, msg))


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def reply(self, status, body, ctype="text/plain"):
        data = body.encode()
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def body(self):
        n = int(self.headers.get("Content-Length", "0"))
        return self.rfile.read(n) if n else b""

    def do_PUT(self):
        self.body()
        if self.path == "/latest/api/token" and self.headers.get("X-aws-ec2-metadata-token-ttl-seconds"):
            log("imds-token", "ok")
            return self.reply(200, IMDS_TOKEN)
        self.reply(400, "bad token request")

    def do_GET(self):
        conf = ctl()
        if self.path.startswith("/latest/"):
            if self.headers.get("X-aws-ec2-metadata-token") != IMDS_TOKEN:
                log("imds", "refused")
                return self.reply(401, "IMDSv2 token required")
            if self.path == "/latest/meta-data/iam/security-credentials/":
                return self.reply(200, "test-role\n")
            if self.path == "/latest/meta-data/placement/region":
                log("imds-region", "ok")
                return self.reply(200, conf.get("region", "us-east-1"))
            if self.path == "/latest/meta-data/iam/security-credentials/test-role":
                if conf.get("fail") == "1":
                    log("imds", "refused")
                    return self.reply(500, "down")
                c = creds("imds", conf)
                c.update({"Code": "Success", "Type": "AWS-HMAC", "LastUpdated": c["Expiration"]})
                log("imds", "ok")
                return self.reply(200, json.dumps(c), "application/json")
            return self.reply(404, "not found")
        if self.path.startswith("/federation/credentials?"):
            q = dict(urllib.parse.parse_qsl(self.path.split("?", 1)[1]))
            if (self.headers.get("x-amz-sso_bearer_token") != conf.get("sso_token") or not q.get("account_id")
                    or not q.get("role_name")):
                log("sso", "refused")
                return self.reply(401, json.dumps({"message": "Session token not found or invalid"}))
            c = creds("sso", conf)
            exp = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(seconds=float(conf["lifetime"]))
            log("sso", "ok")
            return self.reply(200, json.dumps({"roleCredentials": {
                "accessKeyId": c["AccessKeyId"], "secretAccessKey": c["SecretAccessKey"],
                "sessionToken": c["Token"], "expiration": int(exp.timestamp() * 1000)}}), "application/json")
        if self.path == "/ecs/creds":
            if conf.get("fail") == "1" or self.headers.get("Authorization") != conf.get("container_auth"):
                log("container", "refused")
                return self.reply(401 if conf.get("fail") != "1" else 500, "no")
            c = creds("container", conf)
            c["RoleArn"] = "arn:aws:iam::123456789012:role/test"
            log("container", "ok")
            return self.reply(200, json.dumps(c), "application/json")
        self.reply(404, "not found")

    def do_POST(self):
        conf = ctl()
        raw = self.body()
        form = dict(urllib.parse.parse_qsl(raw.decode(), keep_blank_values=True))
        action = form.get("Action")
        xml = "text/xml"
        if conf.get("fail") == "1":
            log("sts", "refused")
            return self.reply(500, sts_error("ServiceUnavailable", "down"), xml)
        if action == "AssumeRoleWithWebIdentity":
            with open(conf["web_token_file"]) as f:
                want = f.read().strip()
            if form.get("WebIdentityToken") != want or not form.get("RoleArn") or not form.get("RoleSessionName"):
                log("web", "refused")
                return self.reply(403, sts_error("InvalidIdentityToken", "bad token"), xml)
            log("web", "ok")
            return self.reply(200, sts_xml(action, creds("web", conf)), xml)
        if action == "AssumeRole":
            hdrs = {k.lower(): v for k, v in self.headers.items()}
            hdrs["Authorization"] = self.headers.get("Authorization", "")
            if not form.get("RoleArn") or not sigv4_ok("POST", self.path, hdrs, raw, conf.get("source_key", ":")):
                log("assume", "refused")
                return self.reply(403, sts_error("SignatureDoesNotMatch", "the signature does not match"), xml)
            log("assume", "ok")
            return self.reply(200, sts_xml(action, creds("assume", conf)), xml)
        self.reply(400, sts_error("InvalidAction", "unknown action"), xml)


class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    allow_reuse_address = True


srv = Server(("127.0.0.1", 0), Handler)
with open(PORTFILE + ".tmp", "w") as f:
    f.write(str(srv.server_address[1]))
os.rename(PORTFILE + ".tmp", PORTFILE)
srv.serve_forever()
