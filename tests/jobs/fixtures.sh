#!/usr/bin/env bash
# fixtures.sh DIR — makes the media the job cases use, with Debian's native ffmpeg, in DIR.
set -euo pipefail
cd "$1"
ff="ffmpeg -nostdin -v error -y -threads 1"
v="-f lavfi -i testsrc2=size=320x240:rate=25"
# 3 s and 2 s H.264/AAC clips with a keyframe every second (fast seeks land on whole seconds);
# chapters.mkv is a.mp4 with two chapters (in MP4 they would come as a text track, a stream).
printf ';FFMETADATA1\n[CHAPTER]\nTIMEBASE=1/1000\nSTART=0\nEND=1500\ntitle=One\n[CHAPTER]\nTIMEBASE=1/1000\nSTART=1500\nEND=3000\ntitle=Two\n' > chapters.txt
$ff $v:duration=3 -f lavfi -i sine=frequency=440:duration=3 \
    -c:v libx264 -pix_fmt yuv420p -g 25 -c:a aac -shortest a.mp4
$ff -i a.mp4 -i chapters.txt -map 0 -map_chapters 1 -c copy chapters.mkv
$ff -f lavfi -i testsrc2=size=320x240:rate=25:duration=2 -f lavfi -i sine=frequency=880:duration=2 \
    -c:v libx264 -pix_fmt yuv420p -g 25 -c:a aac -shortest b.mp4
cp a.mp4 mislabelled.wav
# Video, two audio tracks (eng, fra) and English subtitles.
printf '1\n00:00:00,000 --> 00:00:01,000\nHello\n\n2\n00:00:01,000 --> 00:00:02,000\nWorld\n' > subs.srt
$ff $v:duration=2 -f lavfi -i sine=frequency=440:duration=2 -f lavfi -i sine=frequency=660:duration=2 \
    -i subs.srt -map 0 -map 1 -map 2 -map 3 -c:v libx264 -pix_fmt yuv420p -c:a aac -c:s srt \
    -metadata:s:a:0 language=eng -metadata:s:a:1 language=fra -metadata:s:s:0 language=eng tracks.mkv
# 1 s of black and silence, then 2 s of picture and tone: for blackdetect and silencedetect.
$ff -f lavfi -i color=black:size=320x240:rate=25:duration=1 -f lavfi -i testsrc2=size=320x240:rate=25:duration=2 \
    -f lavfi -i anullsrc=r=44100:cl=mono -f lavfi -i sine=frequency=440:duration=2 \
    -filter_complex "[0:v][1:v]concat=n=2:v=1:a=0[v];[2:a]atrim=0:1[s];[s][3:a]concat=n=2:v=0:a=1[a]" \
    -map "[v]" -map "[a]" -c:v libx264 -pix_fmt yuv420p -c:a aac blacksilence.mp4
# Letterboxed: a 320x176 picture with 32-pixel black bars above and below.
$ff -f lavfi -i testsrc2=size=320x176:rate=25:duration=1 -vf pad=320:240:0:32:black \
    -c:v libx264 -pix_fmt yuv420p letterbox.mp4
# A box that changes: 1 s letterboxed (320x176 at 0,32), then 1 s pillarboxed (224x240 at 48,0).
$ff -f lavfi -i testsrc2=size=320x176:rate=25:duration=1 -f lavfi -i testsrc2=size=224x240:rate=25:duration=1 \
    -filter_complex "[0:v]pad=320:240:0:32:black[a];[1:v]pad=320:240:48:0:black[b];[a][b]concat=n=2:v=1:a=0[v]" \
    -map "[v]" -c:v libx264 -pix_fmt yuv420p boxes.mp4
# Raw inputs: 10 frames of 64x48 RGB24, 1 s of 44.1 kHz stereo s16le.
$ff -f lavfi -i testsrc2=size=64x48:rate=25 -frames:v 10 -f rawvideo -pix_fmt rgb24 video.rgb
$ff -f lavfi -i sine=frequency=440:sample_rate=44100:duration=1 -ac 2 -f s16le audio.pcm
