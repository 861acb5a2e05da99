#!/usr/bin/env bash
# Does transfer help? RAVDESS -> EMO-DB (2.0 s copy), all 10 LOSO folds: the commands behind
# docs/benchmarks.md, "Transfer: RAVDESS first, then EMO-DB".
#
#   bash benchmarks/transfer_emodb.sh [step ...]
#
# steps, in order (a later step reads the output folder of an earlier one):
#   cnn_ravdess   CNN-LSTM (tuned config) trained on RAVDESS, supervised
#   cnn_transfer  ... then fine-tuned on each EMO-DB fold (compare: cnn_lstm_tuned of emodb_cv.sh)
#   w2v_ssl       small wav2vec2, self-supervised pretraining on RAVDESS audio (labels unused)
#   w2v_a         (a) small wav2vec2 from random initialisation, fine-tuned on each EMO-DB fold
#   w2v_b         (b) from w2v_ssl
#   w2v_c_ravdess small wav2vec2 from random initialisation trained on RAVDESS, supervised
#   w2v_c         (c) from w2v_c_ravdess
#   w2v_d_ravdess w2v_ssl trained on RAVDESS, supervised
#   w2v_d         (d) from w2v_d_ravdess
#   table         the paired comparisons (sertune compare) into $OUT/*_table.md
#
# One small wav2vec2 architecture throughout: benchmarks/transfer/small-wav2vec2/config.json
# (4 layers of 128, 4 convolutions of 64-128 channels with a total stride of 320; 1.2 M
# parameters). The Gumbel temperature decays from 2 to 0.5 over the 900 pretraining steps
# (0.9985 per step). Every setting below was fixed before any run and is the same for every route;
# none was tuned (neither on validation nor on test speakers).
#
# Results land in $OUT/<step>/. Run a step again to resume it: finished folds are skipped.
set -euo pipefail
cd "$(dirname "$0")/.."
SERTUNE=${SERTUNE:-.venv/bin/sertune}
PYTHON=${PYTHON:-.venv/bin/python}
EMODB=${EMODB:-../shared/data/emodb}
RAVDESS=${RAVDESS:-../shared/data/ravdess_speech_16k}
OUT=${OUT:-runs/bench/transfer}
CACHE=(--audio_cache_dir "${CACHE_DIR:-runs/audio-cache}")
SMALL=benchmarks/transfer/small-wav2vec2

# Fine-tuning on EMO-DB: LOSO, validation speakers covering every emotion >= 8 times (rotated),
# the model with the best validation UAR is tested.
EMODB_FOLDS=(--data_dir "$EMODB" --protocol loso --min_validation_per_label 8)
# Supervised training on RAVDESS: 6 actor folds, fold 0 (4 test actors, validation actors
# covering every emotion >= 8 times, the rest train), 2 s random crops.
RAVDESS_FOLD=(--corpus ravdess --data_dir "$RAVDESS" --protocol speaker_kfold --num_folds 6 --fold 0
              --min_validation_per_label 8 --max_train_seconds 2.0)
W2V=(--freeze_feature_encoder false --per_device_train_batch_size 16 --learning_rate 5e-4
     --lr_scheduler_type cosine --warmup_ratio 0.1 --use_cpu --report_to none "${CACHE[@]}")
CNN=(--config recipes/configs/cnn_lstm_emodb_tuned.yaml "${CACHE[@]}")

w2v_cv() {  # w2v_cv NAME MODEL: fine-tune MODEL on every EMO-DB fold, 10 epochs
  "$SERTUNE" cv recipes/wav2vec2_emodb.py --output_dir "$OUT/$1" -- \
    --model_name_or_path "$2" "${EMODB_FOLDS[@]}" --num_train_epochs 10 "${W2V[@]}"
}

w2v_ravdess() {  # w2v_ravdess NAME MODEL: train MODEL on RAVDESS, 10 epochs
  "$PYTHON" recipes/wav2vec2_emodb.py --output_dir "$OUT/$1" --model_name_or_path "$2" \
    "${RAVDESS_FOLD[@]}" --num_train_epochs 10 "${W2V[@]}"
}

run() {
  case "$1" in
    cnn_ravdess)
      "$PYTHON" recipes/cnn_lstm_emodb.py --output_dir "$OUT/cnn_ravdess" "${CNN[@]}" \
        "${RAVDESS_FOLD[@]}" ;;
    cnn_transfer)
      "$SERTUNE" cv recipes/cnn_lstm_emodb.py --output_dir "$OUT/cnn_transfer" -- "${CNN[@]}" \
        --data_dir "$EMODB" --model_name_or_path "$OUT/cnn_ravdess" ;;
    w2v_ssl)
      "$PYTHON" recipes/pretrain_wav2vec2.py --output_dir "$OUT/w2v_ssl" \
        --model_name_or_path "random:$SMALL" --corpora ravdess --corpus_dirs "$RAVDESS" \
        --max_train_seconds 2.0 --num_negatives 50 --num_train_epochs 10 \
        --gumbel_temperature_decay 0.9985 \
        --per_device_train_batch_size 16 --learning_rate 5e-4 --lr_scheduler_type cosine \
        --warmup_ratio 0.1 --use_cpu --report_to none "${CACHE[@]}" ;;
    w2v_a) w2v_cv w2v_a "random:$SMALL" ;;
    w2v_b) w2v_cv w2v_b "$OUT/w2v_ssl" ;;
    w2v_c_ravdess) w2v_ravdess w2v_c_ravdess "random:$SMALL" ;;
    w2v_c) w2v_cv w2v_c "$OUT/w2v_c_ravdess" ;;
    w2v_d_ravdess) w2v_ravdess w2v_d_ravdess "$OUT/w2v_ssl" ;;
    w2v_d) w2v_cv w2v_d "$OUT/w2v_d_ravdess" ;;
    table)
      # Paired per-fold comparisons; the CNN-LSTM from scratch is emodb_cv.sh's cnn_lstm_tuned.
      "$SERTUNE" compare "$OUT/w2v_a" "$OUT/w2v_b" "$OUT/w2v_c" "$OUT/w2v_d" \
        --names "(a) random init" "(b) SSL on RAVDESS" "(c) supervised on RAVDESS" \
        "(d) SSL, then supervised on RAVDESS" --output "$OUT/wav2vec2_table.md"
      "$SERTUNE" compare "${CNN_SCRATCH:-runs/bench/cnn-lstm-loso-tuned-e20}" "$OUT/cnn_transfer" \
        --names "CNN-LSTM from scratch" "CNN-LSTM, RAVDESS first" --output "$OUT/cnn_table.md" ;;
    *) echo "unknown step $1" >&2; exit 2 ;;
  esac
}

for step in "${@:-cnn_ravdess cnn_transfer w2v_ssl w2v_a w2v_b w2v_c_ravdess w2v_c w2v_d_ravdess w2v_d table}"; do
  for name in $step; do run "$name"; done
done
