#!/usr/bin/env bash
# Seed corpora for the fuzz targets, written outside the repository:
#   scripts/fuzz/make_corpus.sh [targets...]    ->  $COVSCREEN_FUZZ_BUILD/corpus/<target>/
# (default build-fuzz/, git-ignored; default targets: all). Seeds are added, never removed,
# so running it again on a grown corpus is harmless. Sources:
#   - small files of the shared data sets ($COVSCREEN_DATA, default ../shared/datasets; the
#     same variable the tests use): images and DICOMs under 64 KiB, the head of each CSV;
#   - synthetic files from fuzz_make_seeds (tiny PNG/JPEG/BMP/TIFF, hand-written DICOMs, a
#     tiny pack, a small-model checkpoint and torch.save state_dicts), built by run.sh;
#   - CSV/manifest samples and raw HTTP requests written here.
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$PWD
build=${COVSCREEN_FUZZ_BUILD:-$root/build-fuzz}
data=${COVSCREEN_DATA:-$root/../shared/datasets}
seeds_bin=${FUZZ_SEEDS_BIN:-$build/fuzz/fuzz_make_seeds}
targets=("$@")
[ ${#targets[@]} -eq 0 ] && targets=(image dicom decoder pack csv checkpoint serve dicomweb)
out=$build/corpus
syn=$build/seeds
mkdir -p "$out" "$syn"

if [ -x "$seeds_bin" ]; then
  ASAN_OPTIONS=detect_leaks=0 "$seeds_bin" "$syn"
else
  echo "make_corpus: $seeds_bin not built; synthetic binary seeds skipped" >&2
fi

# copy_small <dest> <max bytes> <max files> <find args...>: the first files (sorted) under the limit.
copy_small() {
  local dest=$1 max=$2 count=$3
  shift 3
  mkdir -p "$dest"
  [ -d "$data" ] || return 0
  local list
  list=$(find "$data" -type f "$@" -size -"$((max / 1024))"k 2>/dev/null | sort || true)
  [ -n "$list" ] || return 0
  # Spread over the whole list (every k-th file), not the first folder only.
  local n k
  n=$(printf '%s\n' "$list" | wc -l)
  k=$(((n + count - 1) / count))
  printf '%s\n' "$list" | awk -v k="$k" 'NR % k == 0' | while read -r f; do
    cp -n --no-preserve=mode "$f" "$dest/data-$(basename "$(dirname "$f")")-$(basename "$f")" 2>/dev/null || true
  done
}

# http <name> <header lines...> -- <body file or -> : a raw request with Content-Length.
http_request() {
  local name=$1 body=$2
  shift 2
  {
    printf 'POST /v1/screen%s HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer secret-token\r\n' "${QUERY:-}"
    for h in "$@"; do printf '%s\r\n' "$h"; done
    printf 'Content-Length: %d\r\n\r\n' "$(wc -c <"$body")"
    cat "$body"
  } >"$out/serve/$name"
}

multipart() {  # multipart <out> <file>...: a form with one part per file
  local o=$1
  shift
  {
    local i=0
    for f in "$@"; do
      i=$((i + 1))
      printf -- '--XyZ\r\nContent-Disposition: form-data; name="files"; filename="dir/f%d.png"\r\nContent-Type: image/png\r\n\r\n' "$i"
      cat "$f"
      printf '\r\n'
    done
    printf -- '--XyZ\r\nContent-Disposition: form-data; name="note"\r\n\r\nhello\r\n--XyZ--\r\n'
  } >"$o"
}

for t in "${targets[@]}"; do
  mkdir -p "$out/$t"
  case $t in
    image)
      [ -d "$syn/image" ] && cp -n --no-preserve=mode "$syn"/image/* "$out/image/"
      copy_small "$out/image" 65536 40 \( -iname '*.png' -o -iname '*.jp*g' -o -iname '*.bmp' -o -iname '*.tif*' \)
      copy_small "$out/image" 65536 4 -iname '*.dcm'
      printf 'path,label\n' >"$out/image/text.csv"
      printf 'GIF89a\1\0\1\0\0\0\0;' >"$out/image/tiny.gif"
      ;;
    dicom)
      [ -d "$syn/dicom" ] && cp -n --no-preserve=mode "$syn"/dicom/* "$out/dicom/"
      copy_small "$out/dicom" 65536 20 -iname '*.dcm'
      # Debian's python3-pydicom test files: colour, palette-free RLE, deflate, multi-frame, big
      # endian, UN sequences, odd encodings.
      pyd=/usr/lib/python3/dist-packages/pydicom/data/test_files
      if [ -d "$pyd" ]; then
        find "$pyd" -type f -size -64k | sort | while read -r f; do
          cp -n --no-preserve=mode "$f" "$out/dicom/pydicom-$(basename "$f")"
        done
      fi
      ;;
    decoder)
      # valid and broken request/reply frames (first byte: even = request, odd = reply)
      cp -n --no-preserve=mode "$root"/fuzz/regressions/decoder/* "$out/decoder/"
      ;;
    pack)
      [ -d "$syn/pack" ] && cp -n --no-preserve=mode "$syn"/pack/* "$out/pack/"
      ;;
    checkpoint)
      [ -d "$syn/checkpoint" ] && cp -n --no-preserve=mode "$syn"/checkpoint/* "$out/checkpoint/"
      ;;
    csv)
      printf 'path,label,patient_id,split,source,original_label\na.png,covid,p1,train,x,COVID\nb.png,non-covid,p2,val,x,normal\n' >"$out/csv/manifest.csv"
      printf '\xEF\xBB\xBFpath,label\r\n"a,1.png",covid\r\n"b ""q"".png",non-covid\r\n\r\n"multi\nline",covid\r\n' >"$out/csv/quoted-crlf.csv"
      printf 'path,label,split\n/abs/x.dcm,Pneumonia,test\n../up.png,normal,\nbad.png,covid,holdout\n' >"$out/csv/splits.csv"
      printf 'a,b,c\n1,"2"x,3\n"4,5\n' >"$out/csv/unclosed.csv"
      printf 'PATH,Label\nz.png,COVID-19\n' >"$out/csv/case.csv"
      if [ -d "$data" ]; then
        { find "$data" -type f -name '*.csv' 2>/dev/null || true; } | sort | head -n 10 | while read -r f; do
          head -c 6000 "$f" >"$out/csv/data-$(basename "$(dirname "$f")")-$(basename "$f")"
        done
        { find "$data" -type f -name '*.txt' 2>/dev/null || true; } | sort | head -n 4 | while read -r f; do
          head -c 2000 "$f" >"$out/csv/data-$(basename "$f")"
        done
      fi
      ;;
    dicomweb)
      mkdir -p "$out/dicomweb"
      cp -n --no-preserve=mode "$root"/fuzz/regressions/dicomweb/* "$out/dicomweb/"
      ;;
    serve)
      png=$(find "$syn/image" -name 'gray8.png' 2>/dev/null | head -1)
      dcm=$(find "$syn/dicom" -name 'explicit-le.dcm' 2>/dev/null | head -1)
      [ -n "$png" ] || { png=$out/serve/.png; printf '\x89PNG\r\n\x1a\n' >"$png"; }
      [ -n "$dcm" ] || dcm=$png
      http_request raw-png "$png" 'Content-Type: image/png'
      http_request raw-dicom "$dcm" 'Content-Type: application/dicom'
      QUERY='?cam=1&x=%41%zz' http_request raw-octet-cam "$png" 'Content-Type: application/octet-stream; charset=x'
      http_request raw-text "$root/README.md" 'Content-Type: text/plain'
      tmp=$(mktemp)
      multipart "$tmp" "$png" "$dcm"
      http_request multipart "$tmp" 'Content-Type: multipart/form-data; boundary=XyZ'
      {
        printf 'POST /v1/screen HTTP/1.1\r\nHost: h\r\nAuthorization: bearer  secret-token\r\nTransfer-Encoding: chunked\r\nContent-Type: image/png\r\n\r\n'
        printf '%x\r\n' "$(wc -c <"$png")"
        cat "$png"
        printf '\r\n0\r\n\r\n'
      } >"$out/serve/chunked"
      printf 'GET /healthz HTTP/1.1\r\nHost: h\r\nRange: bytes=0-1,5-\r\n\r\n' >"$out/serve/get-range"
      printf 'POST /v1/screen HTTP/1.1\r\nContent-Length: 0\r\n\r\n' >"$out/serve/no-auth-empty"
      rm -f "$tmp" "$out/serve/.png"
      ;;
    *)
      echo "make_corpus: unknown target '$t'" >&2
      exit 1
      ;;
  esac
  echo "corpus/$t: $(find "$out/$t" -type f | wc -l) files" >&2
done
