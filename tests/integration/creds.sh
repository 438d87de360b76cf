#!/usr/bin/env bash
# Credentials that are not in the environment: EC2 instance metadata
# (IMDSv2), the container endpoint, web identity and AssumeRole through STS,
# and credential_process, each against the real S3 server with keys that a
# loopback credential server (credserver.py) hands out; their refresh in a
# long-lived mount, including a source that is down when the keys expire.
. "$(dirname "$0")/lib.sh" "$@"
new_db

/usr/bin/python3 "$SRCDIR/tests/integration/credserver.py" "$T/cred.port" "$T/cred.log" "$T/cred.ctl" \
	2>"$T/cred.err" &
CRED_PID=$!
at_exit "kill $CRED_PID 2>/dev/null; wait $CRED_PID 2>/dev/null"
wait_for 60 test -s "$T/cred.port" || { echo "# credserver did not start" >&2; cat "$T/cred.err" >&2; exit 1; }
C=http://127.0.0.1:$(cat "$T/cred.port")
touch "$T/cred.log"
mkdir -p "$T/home"
S3_AK=$AWS_ACCESS_KEY_ID S3_SK=$AWS_SECRET_ACCESS_KEY S3_REGION=$AWS_REGION

setctl() { printf '%s\n' "$@" >"$T/cred.ctl"; }
setctl "region=$S3_REGION"
count() { grep -c "^$1 ok$" "$T/cred.log" || true; }
refused() { grep -c "^$1 refused$" "$T/cred.log" || true; }
# bare VAR=VALUE... -- ARGS: the CLI on $URL with no keys anywhere but what the VARs give
bare() {
	local vars=()
	while [[ $1 != -- ]]; do
		vars+=("$1")
		shift
	done
	shift
	env -u AWS_ACCESS_KEY_ID -u AWS_SECRET_ACCESS_KEY -u AWS_SESSION_TOKEN -u AWS_PROFILE \
		-u AWS_SHARED_CREDENTIALS_FILE -u AWS_CONFIG_FILE HOME="$T/home" AWS_EC2_METADATA_DISABLED=true \
		"${vars[@]}" timeout 120 "$MPS3" --endpoint "$MPS3_TEST_S3_ENDPOINT" "$@"
}
# expect_fail WHAT ERE VAR=VALUE... -- ARGS: exits 1 with ERE on stderr
expect_fail() {
	local what=$1 ere=$2 rc=0
	shift 2
	bare "$@" >/dev/null 2>"$T/fail.err" || rc=$?
	if [[ $rc == 1 ]] && grep -qE -- "$ere" "$T/fail.err"; then ok "$what"; else
		fail "$what (exit $rc)"
		sed 's/^/# /' "$T/fail.err"
	fi
}

# --- nothing anywhere --------------------------------------------------------
expect_fail "no source at all: one clear error" "no S3 credentials" -- "$URL" ls

# --- EC2 instance metadata ---------------------------------------------------
IMDS=(AWS_EC2_METADATA_DISABLED= "AWS_EC2_METADATA_SERVICE_ENDPOINT=$C")
echo from-imds >"$T/v1"
bare "${IMDS[@]}" -- "$URL" put k1 "$T/v1" 2>"$T/imds.err"
is "$(m get k1)" from-imds "IMDSv2: a put signed with the instance role's keys"
is "$(count imds)" 1 "IMDSv2: one fetch for all the requests of one command"
is "$(refused imds)" 0 "IMDSv2: every metadata GET carried the session token"
bare "${IMDS[@]}" -- -v -v "$URL" get k1 >"$T/imds.out" 2>"$T/imds.err"
is "$(cat "$T/imds.out")" from-imds "IMDSv2: a get, with debug logging"
if grep -qF -e "$S3_SK" -e "imds-session-token" "$T/imds.err" || grep -E "imds-[0-9]" "$T/imds.err" >/dev/null; then
	fail "debug logging shows no secret, session token or metadata token"
	sed 's/^/# /' "$T/imds.err" | sed -n 1,20p
else
	ok "debug logging shows no secret, session token or metadata token"
fi
bare "${IMDS[@]}" AWS_REGION= AWS_DEFAULT_REGION= -- "$URL" get k1 >"$T/imds.out"
is "$(cat "$T/imds.out"):$(count imds-region)" "from-imds:1" "IMDSv2: with no region set, the instance's region is used"
expect_fail "AWS_EC2_METADATA_DISABLED=true: metadata is not asked" "no S3 credentials" \
	"AWS_EC2_METADATA_SERVICE_ENDPOINT=$C" -- "$URL" ls

# --- the container endpoint --------------------------------------------------
setctl "region=$S3_REGION" "container_auth=Bearer abc123"
echo from-container >"$T/v2"
bare "AWS_CONTAINER_CREDENTIALS_FULL_URI=$C/ecs/creds" "AWS_CONTAINER_AUTHORIZATION_TOKEN=Bearer abc123" -- \
	"$URL" put k2 "$T/v2"
is "$(m get k2)" from-container "container endpoint: keys with the Authorization token"
printf 'Bearer abc123\n' >"$T/ecs-token"
bare "AWS_CONTAINER_CREDENTIALS_FULL_URI=$C/ecs/creds" "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE=$T/ecs-token" -- \
	"$URL" get k2 >"$T/c.out"
is "$(cat "$T/c.out")" from-container "container endpoint: the token from AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE"
expect_fail "container endpoint: a wrong token fails, naming the source and the status" \
	"container credentials endpoint.*HTTP 401" \
	"AWS_CONTAINER_CREDENTIALS_FULL_URI=$C/ecs/creds" "AWS_CONTAINER_AUTHORIZATION_TOKEN=Bearer wrong" -- "$URL" ls
expect_fail "container endpoint: plain http to a host that is not local is refused" "plain http" \
	"AWS_CONTAINER_CREDENTIALS_FULL_URI=http://192.0.2.1/creds" -- "$URL" ls
expect_fail "container endpoint: a loopback-looking user name does not hide the real host" "no user name" \
	"AWS_CONTAINER_CREDENTIALS_FULL_URI=http://127.0.0.1@192.0.2.1/creds" -- "$URL" ls
expect_fail "container endpoint: a host that only starts like a loopback is refused" "plain http" \
	"AWS_CONTAINER_CREDENTIALS_FULL_URI=http://127.evil.example/creds" -- "$URL" ls

# --- web identity (STS AssumeRoleWithWebIdentity) ---------------------------
printf 'eyJ-the-oidc-token\n' >"$T/web-token"
cp "$T/web-token" "$T/web-token.want"
setctl "region=$S3_REGION" "web_token_file=$T/web-token.want"
WEB=("AWS_WEB_IDENTITY_TOKEN_FILE=$T/web-token" "AWS_ROLE_ARN=arn:aws:iam::123456789012:role/web"
	"AWS_ENDPOINT_URL_STS=$C")
echo from-web >"$T/v3"
bare "${WEB[@]}" -- "$URL" put k3 "$T/v3"
is "$(m get k3):$(count web)" "from-web:1" "web identity: the token file's token traded at STS"
printf 'another-token\n' >"$T/web-token.want"
expect_fail "web identity: a token STS refuses fails with its code" "InvalidIdentityToken" "${WEB[@]}" -- "$URL" ls

# --- AssumeRole from a profile (source_profile), signed with the source's keys
cat >"$T/aws-config" <<EOF
[profile role]
role_arn = arn:aws:iam::123456789012:role/assumed
source_profile = base
role_session_name = it-session
[profile base]
aws_access_key_id = AKIDSOURCE
aws_secret_access_key = source/secret+key
[profile badbase]
aws_access_key_id = AKIDSOURCE
aws_secret_access_key = not-the-secret
[profile badrole]
role_arn = arn:aws:iam::123456789012:role/assumed
source_profile = badbase
[profile proc]
credential_process = $T/cred-process.sh
EOF
setctl "region=$S3_REGION" "source_key=AKIDSOURCE:source/secret+key"
echo from-role >"$T/v4"
bare "AWS_CONFIG_FILE=$T/aws-config" "AWS_ENDPOINT_URL_STS=$C" -- --profile role "$URL" put k4 "$T/v4"
is "$(m get k4):$(count assume)" "from-role:1" "AssumeRole: STS verified the signature made with source_profile's keys"
expect_fail "AssumeRole: a wrong source secret fails with STS's code" "SignatureDoesNotMatch" \
	"AWS_CONFIG_FILE=$T/aws-config" "AWS_ENDPOINT_URL_STS=$C" -- --profile badrole "$URL" ls

# --- credential_process -------------------------------------------------------
cat >"$T/cred-process.sh" <<EOF
#!/bin/sh
echo run >>"$T/process.runs"
printf '{"Version": 1, "AccessKeyId": "%s", "SecretAccessKey": "%s"}\n' '$S3_AK' '$S3_SK'
EOF
chmod +x "$T/cred-process.sh"
echo from-process >"$T/v5"
bare "AWS_CONFIG_FILE=$T/aws-config" -- --profile proc "$URL" put k5 "$T/v5"
is "$(m get k5):$(wc -l <"$T/process.runs")" "from-process:1" "credential_process: run once, its keys used"

# --- IAM Identity Center (SSO): the token aws sso login cached, traded at the portal
cat >>"$T/aws-config" <<EOF
[profile sso]
sso_session = corp
sso_account_id = 123456789012
sso_role_name = Dev
[sso-session corp]
sso_region = $S3_REGION
sso_start_url = https://corp.awsapps.com/start
EOF
mkdir -p "$T/home/.aws/sso/cache"
cachef=$T/home/.aws/sso/cache/$(printf corp | sha1sum | cut -d' ' -f1).json
printf '{"startUrl": "https://corp.awsapps.com/start", "region": "%s", "accessToken": "sso-bearer-1", "expiresAt": "%s"}\n' \
	"$S3_REGION" "$(date -u -d '+1 hour' +%Y-%m-%dT%H:%M:%SZ)" >"$cachef"
setctl "region=$S3_REGION" "sso_token=sso-bearer-1"
echo from-sso >"$T/v6"
bare "AWS_CONFIG_FILE=$T/aws-config" "AWS_ENDPOINT_URL_SSO=$C" -- --profile sso "$URL" put k6 "$T/v6"
is "$(m get k6):$(count sso)" "from-sso:1" "SSO: the cached token traded for the role's keys"
printf '{"accessToken": "sso-bearer-1", "expiresAt": "2020-01-01T00:00:00Z"}\n' >"$cachef"
expect_fail "SSO: an expired session says how to log in again" "expired \(run: aws sso login --profile sso\)" \
	"AWS_CONFIG_FILE=$T/aws-config" "AWS_ENDPOINT_URL_SSO=$C" -- --profile sso "$URL" ls

# --- a long-lived mount: keys renewed before they expire, and a source that is down
if [[ -c /dev/fuse ]] && command -v fusermount3 >/dev/null; then
	setctl "region=$S3_REGION" "lifetime=2"
	saved=("$AWS_ACCESS_KEY_ID" "$AWS_SECRET_ACCESS_KEY")
	unset AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY
	export AWS_EC2_METADATA_SERVICE_ENDPOINT=$C HOME=$T/home
	n0=$(count imds)
	mount_fs a
	AWS_ACCESS_KEY_ID=${saved[0]} AWS_SECRET_ACCESS_KEY=${saved[1]}
	export AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY
	echo one >"$MNT/m1"
	sleep 3 # past the first keys' expiry
	echo two >"$MNT/m2"
	timeout 120 "$MPS3" sync "$MNT" >/dev/null
	is "$(m get m1)$(m get m2)" "onetwo" "mount on instance keys: writes before and after the first keys expired"
	check "mount: the keys were fetched again before they expired" test "$(($(count imds) - n0))" -ge 2
	# The source goes down; the keys run out; writes wait in the journal, then go once it is back.
	setctl "region=$S3_REGION" "lifetime=2" "fail=1"
	sleep 3
	echo three >"$MNT/m3"
	status_says() { "$MPS3" status "$MNT" 2>&1 | grep "credentials from EC2 instance metadata.*HTTP 500" >/dev/null; }
	wait_for 60 status_says || true
	check "source down: mps3 status says why the mount cannot reach the bucket" status_says
	check "source down: nothing was signed with expired keys (m3 not in the bucket)" \
		test "$(m get m3 2>/dev/null)" != three
	setctl "region=$S3_REGION" "lifetime=3600"
	timeout 180 "$MPS3" sync "$MNT" >/dev/null
	is "$(m get m3)" three "source back: the write waiting in the journal reaches the bucket"
	umount_fs a warnings-ok
	unset AWS_EC2_METADATA_SERVICE_ENDPOINT
fi

done_testing
