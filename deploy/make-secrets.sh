#!/bin/sh
# Create the secret files docker-compose.yml mounts, with fresh random values, in deploy/secrets/.
#
# It never overwrites a file that exists: a new INVIGIL_KEYS would make every stored recording and
# identity profile unreadable, and a new postgres password does not reach a database that is already
# initialised. To rotate, follow deploy/README.md instead.
#
# The folder is 0700 and the files 0444: only the owner of the folder can reach them on the host, and
# the containers (Invigil runs as uid 10001, postgres as uid 999) can read the single files that
# Compose bind-mounts at /run/secrets/NAME.
set -eu

dir="$(cd "$(dirname "$0")" && pwd)/secrets"
umask 077
mkdir -p "$dir"
chmod 0700 "$dir"

random_base64() { head -c "$1" /dev/urandom | base64 | tr -d '\n'; }
random_hex() { head -c "$1" /dev/urandom | od -An -tx1 | tr -d ' \n'; }

# write NAME VALUE: create deploy/secrets/NAME holding VALUE, unless it exists.
write() {
    if [ -e "$dir/$1" ]; then
        echo "kept     $dir/$1 (exists)"
        return
    fi
    printf '%s\n' "$2" > "$dir/$1"
    chmod 0444 "$dir/$1"
    echo "created  $dir/$1"
}

# Django's SECRET_KEY: 64 random characters (settings require 50 or more).
write secret_key "$(random_base64 48)"

# Key-encryption keys: ID:BASE64(32 bytes); the first wraps new data keys. BACK THIS FILE UP,
# separately from the database and media backups: without it, encrypted media cannot be read.
write invigil_keys "k$(date +%Y%m%d):$(random_base64 32)"

# The database password, hex so it needs no escaping in the URL, and the URL that Invigil reads.
if [ -e "$dir/postgres_password" ]; then
    echo "kept     $dir/postgres_password (exists)"
    password="$(tr -d '\n' < "$dir/postgres_password")"
else
    password="$(random_hex 32)"
    write postgres_password "$password"
    if [ -e "$dir/database_url" ]; then
        echo "WARNING: $dir/database_url exists and postgres_password is new: make them agree." >&2
    fi
fi
write database_url "postgres://invigil:$password@postgres:5432/invigil"

# The SMTP password, if the mail server needs one: put it in this file with an editor (not on a
# command line, where it would land in the shell history). Empty means no SMTP authentication.
if [ ! -e "$dir/email_host_password" ]; then
    : > "$dir/email_host_password"
    chmod 0444 "$dir/email_host_password"
    echo "created  $dir/email_host_password (empty: write the SMTP password in it if there is one)"
else
    echo "kept     $dir/email_host_password (exists)"
fi
