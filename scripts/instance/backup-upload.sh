# shellcheck shell=bash disable=SC2154,SC2034
# Sourced by backup.sh: compress, hash and upload in one stream, then check what S3 stored and write the manifest (its variables are backup.sh's).
# ---------------------------------------------------------------------------------------------
# Compress, hash, count and upload in one stream

# pigz writes the same gzip format on every core; gzip is the fallback present everywhere.
select_compressor() {
  GZIP_LEVEL=${BK_GZIP_LEVEL:-$DEFAULT_GZIP_LEVEL}
  COMPRESSOR=${BK_COMPRESSOR:-}
  if [[ -z $COMPRESSOR ]]; then
    COMPRESSOR=gzip
    command -v pigz >/dev/null 2>&1 && COMPRESSOR=pigz
  fi
  require_command "$EXIT_DUMP" "$COMPRESSOR" "BK_COMPRESSOR=$COMPRESSOR"
  add_tool "$COMPRESSOR" "$(tool_version "$COMPRESSOR")"
  add_tool aws "$AWS_CLI_VERSION"
  add_tool bash "$BASH_VERSION"
}

compress_stream() {
  # Lower priority: the instance's own workload comes first.
  nice -n 10 "$COMPRESSOR" -n "-$GZIP_LEVEL"
}

# Lets the stream through; at its end lets the uploader finish only if every stage upstream
# succeeded. Otherwise it stops the uploader before closing its input, so that a failed dump
# never completes an upload (a truncated object could not be deleted under Object Lock).
stream_gate() { # stream_gate <upstream status file> <uploader pid file> <marker file>
  cat
  local statuses
  statuses=$(cat "$1" 2>/dev/null || true)
  [[ $statuses =~ ^(0 )*0$ ]] && return 0
  local pids='' pid state i
  for ((i = 0; i < 100; i++)); do
    pids=$(cat "$2" 2>/dev/null || true)
    [[ -n $pids ]] && break
    # The work directory is gone: the script has exited (a signal) and its cleanup stopped the
    # uploader already; waiting would only keep the script's output open.
    [[ -d ${2%/*} ]] || return 1
    sleep 0.1
  done
  # The uploader, then the part upload it has in flight (the file lists both).
  for pid in $pids; do kill -TERM "$pid" 2>/dev/null || true; done
  pids=$(cat "$2" 2>/dev/null || printf '%s' "$pids")
  for pid in $pids; do
    kill -TERM "$pid" 2>/dev/null || true
    for ((i = 0; i < 100; i++)); do
      state=$(sed -n 's/^State:[[:space:]]*\([A-Z]\).*/\1/p' "/proc/$pid/status" 2>/dev/null || true)
      [[ -z $state || $state == Z ]] && break
      sleep 0.1
    done
    ((i < 100)) || kill -KILL "$pid" 2>/dev/null || true
  done
  : >"$3"
  return 1
}

# Aborts a multipart upload of OBJECT_KEY left by a stopped uploader (best effort: the bucket's
# lifecycle rule aborts what this misses).
abort_incomplete_upload() {
  local ids id
  # None when the uploader never began one (a short dump is one PutObject); the upload this run
  # started (the uploader records its ID); else, stopped while creating it, any left under the key.
  [[ -e $WORK_DIR/upload.multipart ]] || return 0
  if [[ -s $WORK_DIR/upload.id ]]; then
    ids=$(cat "$WORK_DIR/upload.id")
  elif ! ids=$(aws_cli s3api list-multipart-uploads --bucket "$BK_BUCKET" --prefix "$OBJECT_KEY" \
    --query "Uploads[?Key=='$OBJECT_KEY'].UploadId" --output text 2>/dev/null); then
    log_warn "could not list incomplete multipart uploads of $OBJECT_KEY; the bucket's lifecycle rule will abort any"
    return 0
  fi
  for id in $ids; do
    [[ $id == None ]] && continue
    if aws_cli s3api abort-multipart-upload --bucket "$BK_BUCKET" --key "$OBJECT_KEY" --upload-id "$id" >/dev/null 2>&1; then
      log_info "aborted the incomplete multipart upload of $OBJECT_KEY"
    else
      log_warn "could not abort the incomplete multipart upload $id of $OBJECT_KEY; the bucket's lifecycle rule will"
    fi
  done
}

# The size of the upload's parts: at least BK_PART_MIB (64 MiB by default; S3's minimum is 5), more
# for a large source (S3 allows 10,000 parts; the estimate may be low, so parts are sized for 9,000).
part_bytes() {
  local minimum=$((${BK_PART_MIB:-64} * 1048576)) wanted=0
  [[ $EXPECTED_SIZE =~ ^[0-9]+$ ]] && wanted=$(((EXPECTED_SIZE / 9000 / 1048576 + 1) * 1048576))
  echo $((wanted > minimum ? wanted : minimum))
}

# The options every write of a backup object carries. The lock is part of the write: the version
# is born with the tier's mode and date, so no later call has to change a lock (which S3 may
# refuse, and which no writer is allowed).
BACKUP_OBJECT_OPTIONS=()
set_backup_object_options() { # set_backup_object_options <content type>
  BACKUP_OBJECT_OPTIONS=(--server-side-encryption aws:kms --ssekms-key-id "$BK_KMS_KEY_ID" --content-type "$1"
    --object-lock-mode "$LOCK_MODE" --object-lock-retain-until-date "$RETAIN_UNTIL")
}

# The SHA-256 of a file as S3 takes it (base64 of the digest).
s3_checksum_of() { # s3_checksum_of <file>
  hex_decode "$(sha256_stdin <"$1")" | base64 -w 0
}

# Reads the compressed stream on stdin and stores it as OBJECT_KEY, written once: every request
# carries its SHA-256 (S3 requires a checksum on uploads to a locked bucket) and the write
# completes only with If-None-Match: *, so it never makes a new version of an existing key (the
# bucket policy refuses anything else). A stream shorter than one part is one PutObject (one CLI
# start instead of three); a longer one a multipart upload made here, not by `aws s3 cp`, which
# could not send those. Nothing is written before the stream's end or a full part, so a dump that
# fails early (the gate stops this first) leaves nothing.
upload_stream() {
  local size part_file="$WORK_DIR/part" bytes create_job=''
  size=$(part_bytes)
  set_backup_object_options application/gzip
  # A source expected to fill several parts (compressing 4:1, as databases do) creates its
  # multipart upload while the first part is cut rather than after: the CLI start is off the
  # stream's path. An estimate that was too high only makes a short stream a one-part upload.
  if [[ $EXPECTED_SIZE =~ ^[0-9]+$ ]] && ((EXPECTED_SIZE >= 4 * size)); then
    create_multipart_upload &
    create_job=$!
    record_upload_pids "$create_job"
  fi
  # GNU head -c reads exactly that many bytes from the pipe (less only at its end).
  head -c "$size" >"$part_file" || return 1
  bytes=$(stat -c %s "$part_file")
  if ((bytes < size)) && [[ -z $create_job ]]; then
    printf '%s' "$bytes" >"$WORK_DIR/upload.bytes"
    aws_cli s3api put-object --bucket "$BK_BUCKET" --key "$OBJECT_KEY" --body "$part_file" \
      --checksum-sha256 "$(s3_checksum_of "$part_file")" "${BACKUP_OBJECT_OPTIONS[@]}" --if-none-match '*' \
      --query "$STORED_QUERY" --output text || return 1
  else
    multipart_upload "$size" "$part_file" "$create_job" || return 1
  fi
  rm -f -- "$part_file"
}

# What the write that completes the object prints (on the uploader's stdout, upload.out): the
# version S3 made and its encryption.
STORED_QUERY='[VersionId, ServerSideEncryption]'

# Creates the multipart upload of OBJECT_KEY, locked and encrypted as the object will be; its ID
# goes to upload.id (and upload.multipart marks that one may exist, for the abort on failure).
create_multipart_upload() {
  local upload_id
  : >"$WORK_DIR/upload.multipart"
  upload_id=$(aws_cli s3api create-multipart-upload --bucket "$BK_BUCKET" --key "$OBJECT_KEY" \
    "${BACKUP_OBJECT_OPTIONS[@]}" --checksum-algorithm SHA256 --query UploadId --output text) || return 1
  printf '%s' "$upload_id" >"$WORK_DIR/upload.id"
}

# The uploader's PID file lists this shell and the job it has in flight, so that a stop
# (stream_gate, cleanup) reaches the CLI call under way too.
record_upload_pids() { # record_upload_pids <job pid>
  [[ -z ${STOP_ON_FAILURE_PID_FILE:-} ]] || printf '%s\n%s\n' "$BASHPID" "$1" >"$STOP_ON_FAILURE_PID_FILE"
}

# Uploads one part in the background while the stream fills the next: its checksum goes to
# <file>.sum, its ETag to <file>.etag. Without an upload yet, the first part's job creates it, so
# the stream waits for no CLI call before its end. The job execs the CLI for the part, so
# stopping its PID stops the upload.
upload_part_job() { # upload_part_job <part number> <file>
  local checksum upload_id
  [[ -s $WORK_DIR/upload.id ]] || create_multipart_upload || exit 1
  upload_id=$(cat "$WORK_DIR/upload.id") || exit 1
  checksum=$(s3_checksum_of "$2") || exit 1
  printf '%s' "$checksum" >"$2.sum"
  aws_argv s3api upload-part --bucket "$BK_BUCKET" --key "$OBJECT_KEY" --upload-id "$upload_id" \
    --part-number "$1" --body "$2" --checksum-sha256 "$checksum" --query ETag --output text
  AWS_PAGER='' exec "${AWS_ARGV[@]}" >"$2.etag"
}

# A multipart upload with one part in flight while the next is read from the stream: the dump
# and compressor never wait for S3 (two part files on disk at most).
multipart_upload() { # multipart_upload <part size> <file holding the first part> [<job creating the upload>]
  local size=$1 current=$2 next="$WORK_DIR/part.next" part=0 bytes job etag parts="$WORK_DIR/parts.json" uploaded=0
  : >"$WORK_DIR/upload.multipart"
  if [[ -n ${3:-} ]]; then
    wait "$3" || return 1
  fi
  printf '{"Parts":[' >"$parts"
  while :; do
    bytes=$(stat -c %s "$current")
    ((bytes > 0 || part == 0)) || break
    part=$((part + 1))
    upload_part_job "$part" "$current" &
    job=$!
    record_upload_pids "$job"
    if ((bytes == size)); then
      head -c "$size" >"$next" || { wait "$job"; return 1; }
    fi
    wait "$job" || return 1
    etag=$(cat "$current.etag")
    ((part == 1)) || printf ',' >>"$parts"
    printf '{"PartNumber":%d,"ETag":%s,"ChecksumSHA256":"%s"}' "$part" "$(json_str "$etag")" "$(cat "$current.sum")" >>"$parts"
    rm -f -- "$current.etag" "$current.sum"
    uploaded=$((uploaded + bytes))
    ((bytes == size)) || break
    mv -f -- "$next" "$current"
  done
  rm -f -- "$next"
  printf ']}' >>"$parts"
  printf '%s' "$uploaded" >"$WORK_DIR/upload.bytes"
  aws_cli s3api complete-multipart-upload --bucket "$BK_BUCKET" --key "$OBJECT_KEY" --upload-id "$(cat "$WORK_DIR/upload.id")" \
    --multipart-upload "file://$parts" --if-none-match '*' --query "$STORED_QUERY" --output text
}

stream_to_s3() {
  local sha_fifo="$WORK_DIR/sha256.fifo" count_fifo="$WORK_DIR/bytes.fifo"
  local content_sha_fifo="$WORK_DIR/content-sha256.fifo" content_count_fifo="$WORK_DIR/content-bytes.fifo"
  local content_outputs=("$content_sha_fifo" "$content_count_fifo") index_pid=''
  local status_file="$WORK_DIR/stream.status" uploader_pid_file="$WORK_DIR/uploader.pid"
  local stopped_file="$WORK_DIR/uploader.stopped" outer_status_file="$WORK_DIR/outer.status"
  mkfifo "$sha_fifo" "$count_fifo" "$content_sha_fifo" "$content_count_fifo"
  # The hash and the byte count read copies of the compressed stream from tee; as plain
  # background jobs (not process substitutions) their exit status is waited for and checked.
  sha256_stdin <"$sha_fifo" >"$WORK_DIR/sha256.out" &
  local sha_pid=$!
  wc -c <"$count_fifo" >"$WORK_DIR/bytes.out" &
  local count_pid=$!
  # The content digest: the same of the dump itself, as the dump tool wrote it and before it is
  # compressed. The verifier and restores recompute it from the stored object, so damage done
  # between reading the data and storing it shows even when the stored object and its own hash agree.
  sha256_stdin <"$content_sha_fifo" >"$WORK_DIR/content-sha256.out" &
  local content_sha_pid=$!
  wc -c <"$content_count_fifo" >"$WORK_DIR/content-bytes.out" &
  local content_count_pid=$!
  BACKGROUND_PIDS+=("$sha_pid" "$count_pid" "$content_sha_pid" "$content_count_pid")
  if [[ $BK_KIND == files ]] && command -v python3 >/dev/null 2>&1; then
    # The per-file index reads a third copy of the tar stream; whatever becomes of it, the rest of
    # its copy is read to the end, so that it can never stop the stream.
    local index_fifo="$WORK_DIR/files-index.fifo"
    mkfifo "$index_fifo"
    content_outputs+=("$index_fifo")
    {
      python3 -c "$FILES_INDEX_PY" tar >"$WORK_DIR/files-index.out" 2>"$WORK_DIR/files-index.err" || true
      cat >/dev/null
    } <"$index_fifo" &
    index_pid=$!
    BACKGROUND_PIDS+=("$index_pid")
  fi

  log_info "streaming to s3://$BK_BUCKET/$OBJECT_KEY ($COMPRESSOR -$GZIP_LEVEL, SSE-KMS, parts of $(($(part_bytes) / 1048576)) MiB, written once)"
  local started_ms
  started_ms=$(now_ms)
  # The stream runs as a background job that this shell waits for, so that a TERM (the
  # document's timeout) is handled at once: the EXIT trap then stops the uploader before its
  # input ends (see STOP_ON_FAILURE_PID_FILE), and no partial object is completed.
  STOP_ON_FAILURE_PID_FILE=$uploader_pid_file
  (
    set +e
    (
      "$PRODUCER" 2>"$WORK_DIR/dump.err" | tee -- "${content_outputs[@]}" 2>"$WORK_DIR/content-tee.err" |
        compress_stream 2>"$WORK_DIR/compress.err" | tee -- "$sha_fifo" "$count_fifo" 2>"$WORK_DIR/tee.err"
      printf '%s\n' "${PIPESTATUS[*]}" >"$status_file"
    ) | stream_gate "$status_file" "$uploader_pid_file" "$stopped_file" | (
      printf '%s\n' "$BASHPID" >"$uploader_pid_file"
      # Without the caller's traps a TERM from the gate ends this at once, before it completes.
      trap - TERM INT HUP
      upload_stream >"$WORK_DIR/upload.out" 2>"$WORK_DIR/upload.err"
    )
    printf '%s\n' "${PIPESTATUS[*]}" >"$outer_status_file"
  ) &
  local stream_pid=$!
  wait "$stream_pid" || true
  STOP_ON_FAILURE_PID_FILE=
  local outer=(x x x)
  read -r -a outer <"$outer_status_file" || true
  local statuses dump_status=x content_tee_status=x compress_status=x tee_status=x
  statuses=$(cat "$status_file" 2>/dev/null || true)
  read -r dump_status content_tee_status compress_status tee_status <<<"$statuses" || true
  [[ -s $WORK_DIR/dump.err ]] && log_info "dump stderr: $(tail_of "$WORK_DIR/dump.err" 5)"

  if [[ -e $stopped_file ]]; then
    abort_incomplete_upload
    if [[ $dump_status != 0 ]]; then
      fail "$EXIT_DUMP" "the $BK_KIND dump failed (exit ${dump_status:-unknown}); nothing was stored: $(tail_of "$WORK_DIR/dump.err" 5)"
    elif [[ $compress_status != 0 ]]; then
      fail "$EXIT_DUMP" "$COMPRESSOR failed (exit $compress_status); nothing was stored: $(tail_of "$WORK_DIR/compress.err" 3)"
    elif [[ $content_tee_status != 0 ]]; then
      fail "$EXIT_DUMP" "computing the content digest failed (tee exit $content_tee_status); nothing was stored: $(tail_of "$WORK_DIR/content-tee.err" 3)"
    fi
    fail "$EXIT_DUMP" "computing the checksum failed (tee exit $tee_status); nothing was stored: $(tail_of "$WORK_DIR/tee.err" 3)"
  fi
  if [[ ${outer[2]} != 0 ]]; then
    abort_incomplete_upload
    if grep -q 'PreconditionFailed' "$WORK_DIR/upload.err" 2>/dev/null; then
      fail "$EXIT_UPLOAD" "s3://$BK_BUCKET/$OBJECT_KEY already exists: backups are written once, so this one was not stored (two runs in the same second?)"
    elif grep -qi 'unknown options.*if-none-match\|checksum-sha256' "$WORK_DIR/upload.err" 2>/dev/null; then
      fail "$EXIT_UPLOAD" "this AWS CLI ($AWS_CLI_VERSION) cannot send If-None-Match or part checksums, which writing backups once to a locked bucket needs; install a current AWS CLI v2 (or v1): $(tail_of "$WORK_DIR/upload.err" 2)"
    fi
    fail "$EXIT_UPLOAD" "S3 refused the upload to s3://$BK_BUCKET/$OBJECT_KEY (aws exit ${outer[2]}): $(tail_of "$WORK_DIR/upload.err" 3)"
  fi
  if [[ $statuses != "0 0 0 0" || ${outer[0]} != 0 || ${outer[1]} != 0 ]]; then
    fail "$EXIT_DUMP" "the stream ended abnormally (stages: ${statuses:-unknown}; gate ${outer[1]})"
  fi

  local hash_status=0 count_status=0
  wait "$sha_pid" || hash_status=$?
  wait "$count_pid" || count_status=$?
  wait "$content_sha_pid" || hash_status=$?
  wait "$content_count_pid" || count_status=$?
  # The per-file index, when it runs: its result is checked where it is used.
  [[ -z $index_pid ]] || wait "$index_pid" || true
  BACKGROUND_PIDS=()
  SHA256=$(cut -d ' ' -f 1 "$WORK_DIR/sha256.out" 2>/dev/null || true)
  BYTES=$(tr -d ' \n' <"$WORK_DIR/bytes.out" 2>/dev/null || true)
  CONTENT_SHA256=$(cut -d ' ' -f 1 "$WORK_DIR/content-sha256.out" 2>/dev/null || true)
  CONTENT_BYTES=$(tr -d ' \n' <"$WORK_DIR/content-bytes.out" 2>/dev/null || true)
  if ((hash_status != 0 || count_status != 0)) || ! [[ $SHA256 =~ ^[0-9a-f]{64}$ && $BYTES =~ ^[0-9]+$ ]] ||
    ! [[ $CONTENT_SHA256 =~ ^[0-9a-f]{64}$ && $CONTENT_BYTES =~ ^[0-9]+$ ]]; then
    FAILURE_NOTES+=("s3://$BK_BUCKET/$OBJECT_KEY was uploaded but has no manifest: the backup is incomplete (Object Lock keeps the object until its retention ends; the verifier reports it)")
    fail "$EXIT_DUMP" "the checksums or byte counts of the stream could not be computed (hash exit $hash_status, wc exit $count_status)"
  fi
  local seconds
  seconds=$(seconds_since "$started_ms")
  log_info "uploaded $BYTES bytes in ${seconds}s, sha256 $SHA256 (content: $CONTENT_BYTES bytes, sha256 $CONTENT_SHA256)"
}

# ---------------------------------------------------------------------------------------------
# Retention and manifest

# What the upload's own response says: the version it made (the bucket is versioned), its
# encryption, and that every streamed byte went into it. The lock S3 applied is checked by the
# verifier, which reads each stored version's retention with its own role: one check, made where
# this instance cannot vouch for itself, and no read-back call here.
check_stored() {
  FAILURE_NOTES+=("s3://$BK_BUCKET/$OBJECT_KEY was uploaded but has no manifest: the backup is incomplete (Object Lock keeps the object until its retention ends; the verifier reports it)")
  local sse='' uploaded=''
  read -r VERSION_ID sse <"$WORK_DIR/upload.out" || true
  uploaded=$(cat "$WORK_DIR/upload.bytes" 2>/dev/null || true)
  if [[ -z $VERSION_ID || $VERSION_ID == None || $VERSION_ID == null ]]; then
    fail "$EXIT_UPLOAD" "s3://$BK_BUCKET/$OBJECT_KEY has no version ID: the bucket is not versioned, so Object Lock cannot protect it"
  fi
  [[ $uploaded == "$BYTES" ]] ||
    fail "$EXIT_UPLOAD" "s3://$BK_BUCKET/$OBJECT_KEY was sent ${uploaded:-no} bytes but $BYTES were streamed"
  [[ $sse == aws:kms ]] ||
    fail "$EXIT_UPLOAD" "s3://$BK_BUCKET/$OBJECT_KEY is not SSE-KMS encrypted (ServerSideEncryption: ${sse:-none})"
  log_info "stored as version $VERSION_ID, asked to be locked $LOCK_MODE until $RETAIN_UNTIL"
}

write_manifest() {
  utc_now FINISHED_AT
  local manifest="$WORK_DIR/manifest.json"
  {
    printf '{"manifestVersion":1'
    json_quote_each "$BK_TARGET" "$BK_KIND" "$BK_TIER" "$INSTANCE" "$BK_BUCKET" "$OBJECT_KEY"
    printf ',"target":%s,"kind":%s,"tier":%s,"instance":%s,"bucket":%s,"key":%s' "${JSON_QUOTED[@]}"
    printf ',"startedAt":"%s","finishedAt":"%s"' "$STARTED_AT" "$FINISHED_AT"
    printf ',"bytes":%s,"sha256":"%s","compression":"gzip","format":"%s"' "$BYTES" "$SHA256" "$FORMAT"
    printf ',"retainUntil":"%s","tools":{%s}' "$RETAIN_UNTIL" "$TOOLS_JSON"
    [[ -n $DATABASE_JSON ]] && printf ',"database":%s' "$DATABASE_JSON"
    [[ -n $FILES_JSON ]] && printf ',"files":%s' "$FILES_JSON"
    printf ',"content":{"bytes":%s,"sha256":"%s"}' "$CONTENT_BYTES" "$CONTENT_SHA256"
    printf '}\n'
  } >"$manifest"
  local err="$WORK_DIR/manifest.err"
  # An explicit checksum: S3 refuses an upload to a locked bucket without one, and a CLI set to
  # request_checksum_calculation = when_required would send none of its own.
  set_backup_object_options application/json
  aws_cli s3api put-object --bucket "$BK_BUCKET" --key "$OBJECT_KEY.manifest.json" --body "$manifest" \
    --checksum-sha256 "$(s3_checksum_of "$manifest")" "${BACKUP_OBJECT_OPTIONS[@]}" --if-none-match '*' >/dev/null 2>"$err" ||
    fail "$EXIT_MANIFEST" "cannot write s3://$BK_BUCKET/$OBJECT_KEY.manifest.json: $(tail_of "$err" 3)"
  FAILURE_NOTES=()
  log_info "manifest written: s3://$BK_BUCKET/$OBJECT_KEY.manifest.json"
}

