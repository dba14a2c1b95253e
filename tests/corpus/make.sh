#!/usr/bin/env bash
# tests/corpus/make.sh DIR — the generated corpus: one small file per decoder family and container
# the module decodes, made by Debian's ffmpeg with its own encoders and muxers (nothing here is
# committed media). Writes DIR/corpus.tsv, one line per file:
#     NAME <TAB> CHECK <TAB> WHAT
# CHECK says how the sandbox's decode is compared with Debian's (tests/corpus/run.sh):
#     exact        every stream's framemd5 equal (integer decoders: bit-exact by implementation)
#     pcm:TOL      audio decoded to float, every sample within TOL of native's (float decoders)
#     probe        probed only: FFmpeg 5.1 cannot decode it natively either
# An encoder Debian's ffmpeg lacks skips its line (said on stderr, and the tests then see no file).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
dir=${1:?usage: make.sh DIR}
mkdir -p "$dir"; cd "$dir"
: > corpus.tsv.new
ff="ffmpeg -nostdin -v error -y -threads 1"
V="-f lavfi -i testsrc2=size=176x144:rate=25:duration=1"   # 25 frames
A="-f lavfi -i sine=frequency=440:sample_rate=44100:duration=1,volume=0.5"
A48="-f lavfi -i sine=frequency=440:sample_rate=48000:duration=1,volume=0.5"
A8="-f lavfi -i sine=frequency=440:sample_rate=8000:duration=1,volume=0.5"
ST="-f lavfi -i testsrc2=size=96x64 -frames:v 1"            # a still image
has_encoder() { [[ $(ffmpeg -hide_banner -h "encoder=$1" 2>/dev/null) == "Encoder $1 "* ]]; }

# mk NAME CHECK WHAT ENCODER -- ARGS...: $ff ARGS NAME, if Debian's ffmpeg has ENCODER.
mk() {
    local name=$1 check=$2 what=$3 enc=$4; shift 5
    if [ "$enc" != - ] && ! has_encoder "$enc"; then
        echo "corpus: Debian's ffmpeg has no $enc encoder: $name skipped" >&2; return 0
    fi
    $ff "$@" "$name" > make.err 2>&1 ||
        { cat make.err >&2; echo "corpus: making $name failed" >&2; exit 1; }
    printf '%s\t%s\t%s\n' "$name" "$check" "$what" >> corpus.tsv.new
}

# ---- video codecs (in the container they usually come in) ----------------------------------------
mk mpeg1.mpg        exact "MPEG-1 video, MP2 audio in MPEG-PS" mpeg1video -- $V $A -c:v mpeg1video -c:a mp2 -f mpeg
mk mpeg2.vob        exact "MPEG-2 video, AC-3 in a DVD VOB" mpeg2video -- $V $A48 -c:v mpeg2video -c:a ac3 -f vob
mk mpeg2_ts.ts      exact "MPEG-2 video, MP2 in MPEG-TS" mpeg2video -- $V $A48 -c:v mpeg2video -c:a mp2
mk mpeg4.avi        exact "MPEG-4 part 2 in AVI" mpeg4 -- $V -c:v mpeg4
mk mpeg4_tiny.mp4   exact "MPEG-4 part 2, 16x16 frames" mpeg4 -- -f lavfi -i testsrc2=size=16x16:rate=25:duration=1 -c:v mpeg4
mk h263.3gp         exact "H.263 in 3GP" h263 -- $V -c:v h263
mk h261.h261        exact "H.261 raw" h261 -- -f lavfi -i testsrc2=size=176x144:rate=25:duration=1 -c:v h261 -f h261
mk msmpeg4v2.avi    exact "MS MPEG-4 v2" msmpeg4v2 -- $V -c:v msmpeg4v2
mk msmpeg4v3.avi    exact "MS MPEG-4 v3 (DivX 3)" msmpeg4 -- $V -c:v msmpeg4
mk wmv2.wmv         exact "WMV2 video, WMA v2 audio in ASF" wmv2 -- $V $A -c:v wmv2 -c:a wmav2
mk wmv1.asf         exact "WMV1 video, WMA v1 audio in ASF" wmv1 -- $V $A -c:v wmv1 -c:a wmav1
mk flv1.flv         exact "Sorenson H.263 (FLV1), MP3 in FLV" flv -- $V $A -c:v flv -c:a libmp3lame
mk h264.flv         exact "H.264 and AAC in FLV" libx264 -- $V $A -c:v libx264 -c:a aac
mk theora.ogv       exact "Theora video, Vorbis audio in Ogg" libtheora -- $V $A -c:v libtheora -c:a libvorbis
mk vp8.webm         exact "VP8 video, Vorbis audio in WebM" libvpx -- $V $A -c:v libvpx -c:a libvorbis
mk vp9.ivf          exact "VP9 in IVF" libvpx-vp9 -- $V -c:v libvpx-vp9 -b:v 200k
mk av1_aom.mkv      exact "AV1 (libaom) in Matroska" libaom-av1 -- $V -c:v libaom-av1 -cpu-used 8 -b:v 200k
mk av1_svt.ivf      exact "AV1 (SVT-AV1) in IVF" libsvtav1 -- $V -c:v libsvtav1 -preset 12
mk av1_rav1e.mp4    exact "AV1 (rav1e) in MP4" librav1e -- $V -c:v librav1e -speed 10
mk av1_10bit.mkv    exact "AV1 10-bit (libaom)" libaom-av1 -- $V -c:v libaom-av1 -cpu-used 8 -b:v 200k -pix_fmt yuv420p10le
mk hevc_10bit.mkv   exact "HEVC Main 10" libx265 -- $V -c:v libx265 -x265-params log-level=none -pix_fmt yuv420p10le
mk h264_422.mkv     exact "H.264 High 4:2:2 10-bit" libx264 -- $V -c:v libx264 -pix_fmt yuv422p10le
mk mjpeg.avi        exact "Motion JPEG in AVI" mjpeg -- $V -c:v mjpeg
mk ljpeg.avi        exact "lossless JPEG" ljpeg -- $V -c:v ljpeg -pix_fmt bgr24
mk jpegls.avi       exact "JPEG-LS" jpegls -- $V -c:v jpegls
mk prores.mov       exact "ProRes 422 (prores_ks), PCM s24le in MOV" prores_ks -- $V $A48 -c:v prores_ks -c:a pcm_s24le
mk prores_aw.mov    exact "ProRes 4444 (prores_aw)" prores_aw -- $V -c:v prores_aw -pix_fmt yuv444p10le
mk dnxhd.mxf        exact "DNxHD in MXF" dnxhd -- -f lavfi -i testsrc2=size=1280x720:rate=25:duration=0.2 -c:v dnxhd -b:v 90M -pix_fmt yuv422p
mk dv.dv            exact "DV (PAL) with PCM audio" dvvideo -- -f lavfi -i testsrc2=size=720x576:rate=25:duration=0.4 $A48 -c:v dvvideo -pix_fmt yuv420p -c:a pcm_s16le -ac 2 -shortest -f dv
mk ffv1.mkv         exact "FFV1 in Matroska" ffv1 -- $V -c:v ffv1
mk huffyuv.avi      exact "HuffYUV" huffyuv -- $V -c:v huffyuv -pix_fmt yuv422p
mk ffvhuff.avi      exact "FFVHuff" ffvhuff -- $V -c:v ffvhuff
mk utvideo.avi      exact "Ut Video" utvideo -- $V -c:v utvideo
mk magicyuv.avi     exact "MagicYUV" magicyuv -- $V -c:v magicyuv
mk cinepak.mov      exact "Cinepak" cinepak -- -f lavfi -i testsrc2=size=160x120:rate=25:duration=0.4 -c:v cinepak
mk svq1.mov         exact "Sorenson Video 1" svq1 -- $V -c:v svq1
mk snow.nut         exact "Snow in NUT" snow -- $V -c:v snow
mk asv2.avi         exact "ASUS V2" asv2 -- $V -c:v asv2
mk qtrle.mov        exact "QuickTime Animation (RLE)" qtrle -- $V -c:v qtrle
mk zmbv.avi         exact "DosBox ZMBV" zmbv -- -f lavfi -i testsrc2=size=160x120:rate=25:duration=0.4 -c:v zmbv -pix_fmt bgr0
mk cfhd.mov         exact "GoPro CineForm HD" cfhd -- $V -c:v cfhd
mk dirac.mkv        exact "Dirac (VC-2)" vc2 -- $V -c:v vc2
mk v210.mov         exact "v210 10-bit 4:2:2" v210 -- $V -c:v v210
mk rawvideo.y4m     exact "YUV4MPEG" rawvideo -- $V -pix_fmt yuv420p -f yuv4mpegpipe
mk roq.roq          exact "id RoQ video" roqvideo -- -f lavfi -i testsrc2=size=128x128:rate=30:duration=0.4 -c:v roqvideo -an -f roq

# ---- still images --------------------------------------------------------------------------------
for img in png:png bmp:bmp tiff:tiff gif:gif jpeg2000.j2k:jpeg2000 jp2:libopenjpeg webp:libwebp \
           exr:exr dpx:dpx sgi:sgi tga:targa pcx:pcx ras:sunrast pgm:pgm ppm:ppm pam:pam xbm:xbm \
           xwd:xwd jpg:mjpeg; do
    ext=${img%%:*} enc=${img##*:}
    extra=; case $enc in xbm) extra="-pix_fmt monow";; exr) extra="-pix_fmt gbrpf32le";; esac
    mk "still.$ext" exact "$enc still" "$enc" -- $ST -c:v "$enc" $extra
done
# TIFF with LZMA compression (the tiff decoder's liblzma): FFmpeg's tiff encoder has none, so
# Debian's libtiff (tiffcp) recompresses one of its images.
if command -v tiffcp > /dev/null; then
    $ff $ST -c:v tiff -pix_fmt rgb24 -compression_algo raw lzma.tmp.tiff &&
        tiffcp -c lzma lzma.tmp.tiff still_lzma.tiff ||
        { echo "corpus: making still_lzma.tiff failed" >&2; exit 1; }
    rm -f lzma.tmp.tiff
    printf '%s\t%s\t%s\n' still_lzma.tiff exact "TIFF, LZMA-compressed (tiffcp)" >> corpus.tsv.new
else
    echo "corpus: no tiffcp (libtiff-tools): still_lzma.tiff skipped" >&2
fi
mk anim.gif         exact "animated GIF" gif -- -f lavfi -i testsrc2=size=96x64:rate=10:duration=1 -c:v gif
mk anim.apng        exact "animated PNG" apng -- -f lavfi -i testsrc2=size=96x64:rate=10:duration=1 -c:v apng -f apng
mk anim.webp        probe "animated WebP (FFmpeg 5.1 has no animated WebP decoder)" libwebp_anim -- -f lavfi -i testsrc2=size=96x64:rate=10:duration=1 -c:v libwebp_anim -loop 0

# ---- audio codecs --------------------------------------------------------------------------------
mk ac3.ac3          pcm:1e-6 "AC-3" ac3 -- $A48 -c:a ac3
mk eac3.mka         pcm:1e-6 "E-AC-3 in Matroska" eac3 -- $A48 -c:a eac3
mk dts.dts          pcm:1e-6 "DTS core" dca -- $A48 -c:a dca -strict -2 -ac 2
mk mp2.mp2          pcm:1e-6 "MPEG-1 Layer II" mp2 -- $A -c:a mp2
mk mp3.mp3          pcm:1e-6 "MP3 (LAME)" libmp3lame -- $A -c:a libmp3lame
mk aac.m4a          pcm:1e-6 "AAC-LC in M4A" aac -- $A -c:a aac
mk aac_latm.ts      pcm:1e-6 "AAC in LATM in MPEG-TS" aac -- $A48 -c:a aac -mpegts_flags latm
mk alac.m4a         exact "Apple Lossless" alac -- $A -c:a alac
mk tta.tta          exact "True Audio" tta -- $A -c:a tta
mk wavpack.wv       exact "WavPack" wavpack -- $A -c:a wavpack
mk flac.flac        exact "FLAC" flac -- $A -c:a flac
mk truehd.mka       exact "Dolby TrueHD" truehd -- $A48 -c:a truehd -strict -2
mk mlp.mlp          exact "MLP" mlp -- $A48 -c:a mlp -strict -2
mk wmav2.wma        pcm:1e-6 "WMA v2" wmav2 -- $A -c:a wmav2
mk opus.opus        pcm:1e-6 "Opus" libopus -- $A48 -c:a libopus
mk vorbis.ogg       pcm:1e-6 "Vorbis" libvorbis -- $A -c:a libvorbis
mk speex.spx        pcm:1e-6 "Speex" libspeex -- -f lavfi -i sine=frequency=440:sample_rate=16000:duration=1 -c:a libspeex
mk gsm.gsm          exact "GSM 06.10" libgsm -- $A8 -c:a libgsm -f gsm
mk g723_1.wav       exact "G.723.1" g723_1 -- $A8 -c:a g723_1 -b:a 6300
mk nellymoser.flv   pcm:1e-6 "Nellymoser in FLV" nellymoser -- $A8 -c:a nellymoser
mk real_144.rm      exact "RealAudio 1.0 (14.4) in RealMedia" real_144 -- $A8 -c:a real_144
mk aptx.aptx        exact "aptX" aptx -- $A48 -c:a aptx
mk sbc.sbc          exact "SBC" sbc -- $A48 -c:a sbc
# AMR: Debian's ffmpeg has no AMR encoder; amrenc.c uses Debian's opencore-amrnb and vo-amrwbenc.
# amr NAME CHECK WHAT nb|wb MODE RATE [FORMAT]: encode a 1 s sine, remuxed by ffmpeg if FORMAT.
amr() {
    local name=$1 check=$2 what=$3 band=$4 mode=$5 rate=$6 fmt=${7:-}
    if ! gcc -O2 -Wall -o amrenc "$here/amrenc.c" -lopencore-amrnb -lvo-amrwbenc 2> make.err; then
        cat make.err >&2; echo "corpus: cannot build amrenc (scripts/install-deps.sh): $name skipped" >&2
        return 0
    fi
    $ff -f lavfi -i "sine=frequency=440:sample_rate=$rate:duration=1,volume=0.5" -f s16le -ac 1 - |
        ./amrenc "$band" "$mode" > "amr.tmp" ||
        { echo "corpus: making $name failed" >&2; exit 1; }
    if [ -n "$fmt" ]; then $ff -i amr.tmp -c copy -f "$fmt" "$name" || exit 1
    else mv amr.tmp "$name"; fi
    rm -f amr.tmp amrenc
    printf '%s\t%s\t%s\n' "$name" "$check" "$what" >> corpus.tsv.new
}
amr amr_nb.amr      pcm:1e-6 "AMR-NB 12.2 kbit/s" nb 7 8000
amr amr_nb.3gp      pcm:1e-6 "AMR-NB 4.75 kbit/s in 3GP" nb 0 8000 3gp
amr amr_wb.awb      pcm:1e-6 "AMR-WB 23.85 kbit/s" wb 8 16000
mk roq_dpcm.roq     exact "id RoQ DPCM" roq_dpcm -- -f lavfi -i sine=frequency=440:sample_rate=22050:duration=1 -c:a roq_dpcm -f roq
for adpcm in adpcm_ms adpcm_ima_wav adpcm_yamaha g722 g726; do
    mk "$adpcm.wav" exact "${adpcm^^} in WAV" "$adpcm" -- $A8 -c:a "$adpcm"
done
mk adpcm_ima_qt.mov exact "IMA ADPCM (QuickTime)" adpcm_ima_qt -- $A -c:a adpcm_ima_qt
mk adpcm_swf.flv    exact "ADPCM in FLV (Flash)" adpcm_swf -- -f lavfi -i sine=frequency=440:sample_rate=22050:duration=1 -c:a adpcm_swf
mk adpcm_adx.adx    exact "CRI ADX" adpcm_adx -- $A -c:a adpcm_adx -f adx

# ---- PCM and the containers audio comes in -------------------------------------------------------
mk pcm_s16be.aiff   exact "PCM s16be in AIFF" pcm_s16be -- $A -c:a pcm_s16be
mk pcm_s24be.aiff   exact "PCM s24be in AIFF" pcm_s24be -- $A -c:a pcm_s24be
mk pcm_f32be.caf    exact "PCM f32be in CAF" pcm_f32be -- $A -c:a pcm_f32be
mk pcm_f64le.w64    exact "PCM f64le in Wave64" pcm_f64le -- $A -c:a pcm_f64le
mk pcm_s24le.wav    exact "PCM s24le in WAV" pcm_s24le -- $A -c:a pcm_s24le
mk pcm_u8.wav       exact "PCM u8 in WAV" pcm_u8 -- $A -c:a pcm_u8
mk pcm_s8.voc       exact "PCM s8 in Creative VOC" pcm_u8 -- $A8 -c:a pcm_u8 -f voc
mk pcm_alaw.au      exact "A-law in Sun AU" pcm_alaw -- $A8 -c:a pcm_alaw
mk pcm_mulaw.wav    exact "mu-law in WAV" pcm_mulaw -- $A8 -c:a pcm_mulaw
mk pcm_bluray.m2ts  exact "Blu-ray LPCM in M2TS" pcm_bluray -- $A48 -c:a pcm_bluray -ac 2

# ---- more containers -----------------------------------------------------------------------------
mk h264.asf         exact "H.264 and MP3 in ASF" libx264 -- $V $A -c:v libx264 -c:a libmp3lame -f asf
mk mpeg4_mp3.avi    exact "MPEG-4 part 2 and MP3 in AVI" mpeg4 -- $V $A -c:v mpeg4 -c:a libmp3lame
mk h264.m2ts        exact "H.264 and AC-3 in M2TS" libx264 -- $V $A48 -c:v libx264 -c:a ac3 -f mpegts -mpegts_m2ts_mode 1
mk mpeg4.mxf        exact "MPEG-2 video and PCM in MXF" mpeg2video -- $V $A48 -c:v mpeg2video -c:a pcm_s16le -ac 1
mk dnxhd.gxf        exact "MPEG-2 video in GXF" mpeg2video -- -f lavfi -i testsrc2=size=720x576:rate=25:duration=0.4 -c:v mpeg2video -f gxf
mk ffv1_flac.nut    exact "FFV1 and FLAC in NUT" ffv1 -- $V $A -c:v ffv1 -c:a flac
mk mjpeg.smjpeg     exact "MJPEG in SMJPEG" mjpeg -- $V -c:v mjpeg -f smjpeg
mk h264.mov         exact "H.264 and ALAC in MOV" libx264 -- $V $A -c:v libx264 -c:a alac
mk flv1.swf         exact "FLV1 in SWF" flv -- $V -c:v flv -f swf
mk mpeg4.3g2        exact "MPEG-4 and AAC in 3G2" mpeg4 -- $V $A -c:v mpeg4 -c:a aac -f 3g2
mk h264.f4v         exact "H.264 in F4V" libx264 -- $V -c:v libx264 -f f4v
printf '1\n00:00:00,000 --> 00:00:00,500\nHello\n\n2\n00:00:00,500 --> 00:00:01,000\nWorld\n' > subs.srt
mk subs.mkv         exact "H.264 with ASS, SRT and WebVTT subtitles" libx264 -- $V -i subs.srt -i subs.srt -i subs.srt -map 0 -map 1 -map 2 -map 3 -c:v libx264 -c:s:0 ass -c:s:1 srt -c:s:2 webvtt
mk subs.mp4         exact "H.264 with mov_text subtitles" libx264 -- $V -i subs.srt -map 0 -map 1 -c:v libx264 -c:s mov_text
rm -f subs.srt
rm -f make.err
mv corpus.tsv.new corpus.tsv
