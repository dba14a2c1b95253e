#!/usr/bin/env bash
# The module has every component afmpeg promises (docs/components.md), asked of the sandboxed
# ffmpeg itself, and afmpeg --version describes the same components. One check per kind; a
# failure names what is missing. Ends "N passed, N failed".
set -u
cli=$(realpath "${AFMPEG_CLI:-build/afmpeg}")
scratch=$(mktemp -d /tmp/afmpeg-comp-XXXXXX)
trap 'rm -rf "$scratch"' EXIT
cd "$scratch"
passed=0 failed=0

# names KIND: the names ffmpeg lists for -KIND, one per line (comma lists split).
names() {
    "$cli" ffmpeg -hide_banner "-$1" 2>/dev/null | case "$1" in
        demuxers|muxers) awk '/^ --/{go=1; next} go && NF>=2 {print $2}' | tr ',' '\n' ;;
        decoders|encoders) awk '/^ ------/{go=1; next} go && NF>=2 {print $2}' ;;
        filters) awk '/^ [T.][S.][C.] /{print $2}' ;;
        bsfs) awk 'NR>1 {print $1}' ;;
        protocols) awk '/^Output:/{exit} NF==1 && !/:$/ {print $1}' ;;
    esac
}
expect() { # KIND NAME...
    local kind=$1; shift
    local have; have=$(names "$kind" | sort -u)
    local missing=()
    for n in "$@"; do grep -qx -- "$n" <<<"$have" || missing+=("$n"); done
    if [ ${#missing[@]} -eq 0 ]; then passed=$((passed + 1)); echo "ok   $kind: all $# present"
    else failed=$((failed + 1)); echo "FAIL $kind: missing ${missing[*]}"; fi
}

expect demuxers mov mp4 m4a matroska webm avi mp3 wav ogg flac aac mpegts image2 png_pipe \
    jpeg_pipe webp_pipe concat srt webvtt ass hls rawvideo s16le f32le flv aiff asf mpeg \
    yuv4mpegpipe ivf mxf dv ac3 eac3 dts truehd amr wv tta ape gif
expect muxers mov mp4 ipod matroska webm avi mp3 wav ogg opus flac adts mpegts image2 image2pipe \
    srt webvtt ass hls dash segment null framemd5 md5 crc rawvideo s16le f32le gif webp flv mxf
expect decoders h264 hevc vp8 vp9 libdav1d mpeg4 mpeg2video mpeg1video theora mjpeg png webp gif \
    bmp tiff jpeg2000 aac mp3float mp2 ac3 eac3 dca truehd opus vorbis flac alac tta wavpack ape \
    wmav2 amrnb amrwb pcm_s16le pcm_f32le rawvideo srt subrip webvtt mov_text ass dvdsub pgssub
expect encoders libopenh264 libvpx libvpx-vp9 libopus libvorbis libmp3lame libwebp libwebp_anim \
    aac ac3 flac alac mp2 gif png mjpeg mpeg4 mpeg2video prores_ks pcm_s16le rawvideo \
    wrapped_avframe srt subrip webvtt mov_text
expect filters scale format fps setpts asetpts trim atrim aresample aformat volume amix concat \
    overlay pad crop xfade split asplit thumbnail select null anull bbox blackdetect \
    silencedetect ebur128 loudnorm yadif bwdif palettegen paletteuse drawtext subtitles ass scdet
expect bsfs h264_mp4toannexb hevc_mp4toannexb aac_adtstoasc av1_frame_merge vp9_superframe
expect protocols file pipe

# afmpeg --version lists the components as the library describes them (afmpeg_module_info_get()):
# for each kind, the same names as ffmpeg's own listing above.
if ! "$cli" --version > version.txt 2> version.err; then
    failed=$((failed + 1)); echo "FAIL afmpeg --version: $(cat version.err)"
fi
# section LABEL: the names after "LABEL:" in version.txt, continuation lines included
section() {
    awk -v k="$1:" '$1 ~ /:$/ { on = ($1 == k); if (on) for (i = 2; i <= NF; i++) print $i; next }
                    on { for (i = 1; i <= NF; i++) print $i }' version.txt | sort -u
}
for kind in encoders decoders muxers demuxers filters bsfs protocols; do
    if diff <(names "$kind" | grep . | sort -u) <(section "$kind") > version.diff; then
        passed=$((passed + 1)); echo "ok   --version lists the $kind ffmpeg lists"
    else
        failed=$((failed + 1)); echo "FAIL --version lists other $kind than ffmpeg -$kind:"
        sed 's/^/     /' version.diff
    fi
done

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
