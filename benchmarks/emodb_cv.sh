#!/usr/bin/env bash
# Cross-validated accuracy benchmarks of the CNN family on EMO-DB (the 2.0 s copy in
# ../shared/data/emodb), from scratch: the commands behind docs/benchmarks.md.
#
#   bash benchmarks/emodb_cv.sh [which ...]     which: resnet18 cnn_lstm cnn_lstm_weighted cnn_lstm_augmented
#                                               cnn_lstm_tuned
#
# Results land in runs/bench/<name>/ (cv_results.json, cv_summary.md, confusion_matrix.png).
# Run it again to resume: finished folds are skipped.
set -euo pipefail
cd "$(dirname "$0")/.."
SERTUNE=${SERTUNE:-.venv/bin/sertune}
DATA=${DATA:-../shared/data/emodb}
# The CNN-LSTM baseline: 10 epochs, AdamW 1e-3 with cosine decay, batch 16, one validation
# speaker per fold for model selection.
CNN_LSTM=(--data_dir "$DATA" --protocol loso --num_train_epochs 10 --per_device_train_batch_size 16
          --learning_rate 1e-3 --lr_scheduler_type cosine --use_cpu --report_to none)
AUGMENT=(--speed_prob 0.5 --noise_prob 0.5 --noise_snr_min 10 --noise_snr_max 30 --noise_color random
         --gain_prob 0.5 --shift_prob 0.5 --spec_time_mask_prob 0.5 --spec_time_mask_frames 10
         --spec_freq_mask_prob 0.5 --spec_freq_mask_bins 8)

run() {
  case "$1" in
    resnet18)
      # DCNN-BLSTM-attention with a randomly initialised ResNet-18 on 64 x 64 log-mel segments
      # (no resizing to 224 px: CPU size), 5 speaker folds of 2 test speakers each.
      "$SERTUNE" cv recipes/cnn_emodb.py --output_dir runs/bench/dcnn-resnet18-kfold5 -- \
        --data_dir "$DATA" --model_name_or_path random:microsoft/resnet-18 \
        --protocol speaker_kfold --num_folds 5 --num_train_epochs 10 \
        --per_device_train_batch_size 16 --learning_rate 1e-3 --lr_scheduler_type cosine --use_cpu ;;
    cnn_lstm)
      "$SERTUNE" cv recipes/cnn_lstm_emodb.py --output_dir runs/bench/cnn-lstm-loso -- "${CNN_LSTM[@]}" ;;
    cnn_lstm_weighted)
      "$SERTUNE" cv recipes/cnn_lstm_emodb.py --output_dir runs/bench/cnn-lstm-loso-weighted -- \
        "${CNN_LSTM[@]}" --class_weighting balanced ;;
    cnn_lstm_augmented)
      "$SERTUNE" cv recipes/cnn_lstm_emodb.py --output_dir runs/bench/cnn-lstm-loso-augmented -- \
        "${CNN_LSTM[@]}" "${AUGMENT[@]}" ;;
    cnn_lstm_tuned)
      # Issue 19 part 2: global (training-speaker) log-mel normalisation, non-overlapping
      # segments, validation speakers covering every emotion with >= 8 utterances, rotated.
      "$SERTUNE" cv recipes/cnn_lstm_emodb.py --output_dir runs/bench/cnn-lstm-loso-tuned-e20 -- \
        --config recipes/configs/cnn_lstm_emodb_tuned.yaml --data_dir "$DATA" ;;
    *) echo "unknown benchmark $1" >&2; exit 2 ;;
  esac
}

for which in "${@:-resnet18 cnn_lstm cnn_lstm_weighted cnn_lstm_augmented}"; do
  for name in $which; do run "$name"; done
done
