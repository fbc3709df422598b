# Set-up and reproducible jobs. `make demo` and `make test` work on a fresh machine.
PY ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
SAMPLE := src/vliqa/samples/abdomen_ct_dicom

.PHONY: demo test test-all install install-dev lint bench bench-scorer bench-readers train-reader train-photo train-vlm vlm-dataset dataset upgrade-data dataset-denoise train-scorer train-scorer-regrank train-regressor denoiser lesion-net lesion-net-mapping priors figures clean

$(BIN)/python:
	$(PY) -m venv $(VENV) || python3 -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

install: $(BIN)/python
	$(BIN)/pip install --quiet -e .

install-dev: $(BIN)/python
	$(BIN)/pip install --quiet -e ".[dev]"

# The main job: assess the bundled 20-slice abdomen series with the shipped default (reader) model.
demo: install
	mkdir -p out
	$(BIN)/vliqa assess $(SAMPLE) --plot out/demo_quality.png --heatmap out/demo_heatmaps
	$(BIN)/vliqa assess $(SAMPLE) --format json --no-measures > out/demo_assessment.json
	@echo "per-slice quality plot: out/demo_quality.png; heatmaps: out/demo_heatmaps/; JSON: out/demo_assessment.json"

# The fast tier (under 2 minutes on 2 cores): every test not marked slow (pyproject.toml deselects `slow`).
test: install-dev
	$(BIN)/python -m pytest -q

# Every test, the slow tier too (training, dataset building, replays, CLI runs in fresh processes): what CI runs.
test-all: install-dev
	$(BIN)/python -m pytest -q -m "slow or not slow"

lint: install-dev
	$(BIN)/ruff check src tests bench

# Every benchmark, each writing its current tables into out/bench/, then BENCHMARKS.md assembled from them (about
# 15 min on 2 idle cores, more on a shared machine). A script that fails leaves its section saying so (and
# `make bench` fails at the end); one whose input is absent says what it needs: the scorer's held-out split
# `make dataset`, the reader benchmark ../shared/data, the reference check a virtualenv at REFERENCE_PYTHON
# (bench/baselines_reference_check.py).
BENCH_OUT := out/bench
REFERENCE_PYTHON ?= /tmp/refvenv/bin/python
SHIPPED_MODELS = $(shell $(BIN)/python bench/_report.py shipped)
bench: install-dev
	rm -rf $(BENCH_OUT) && mkdir -p $(BENCH_OUT)
	-$(BIN)/python bench/reader_bench.py $(foreach m,$(SHIPPED_MODELS),--model $(m)) \
	    $(if $(wildcard runs/reader_oof/oof_nr.json),--oof reader=runs/reader_oof/oof_nr.json) \
	    $(if $(wildcard runs/reader_oof/oof_fr.json),--oof-fr reader=runs/reader_oof/oof_fr.json) \
	    --json $(BENCH_OUT)/reader_bench.json --markdown $(BENCH_OUT)/readers.md
	-$(BIN)/python bench/scorer_bench.py $(foreach m,$(SHIPPED_MODELS),--model $(m)) \
	    $(foreach m,runs/scorer-regrank runs/regressor,$(if $(wildcard $(m)/config.json),--model $(m))) \
	    --data data/ctiqa-default --json $(BENCH_OUT)/scorer_bench.json --markdown $(BENCH_OUT)/scorer.md
	-$(BIN)/python bench/vlm_bench.py --json $(BENCH_OUT)/vlm_bench.json --markdown $(BENCH_OUT)/vlm.md
	-$(BIN)/python bench/artifact_index_bench.py --json $(BENCH_OUT)/artifact_index_bench.json --markdown $(BENCH_OUT)/artifact_index.md
	-$(BIN)/python bench/diagnostic_bench.py --data $(BENCH_OUT)/diagnostic_data --markdown $(BENCH_OUT)/diagnostic.md
	-$(BIN)/python bench/labels_real_check.py --markdown $(BENCH_OUT)/labels.md
	-$(BIN)/python bench/baselines_bench.py --markdown $(BENCH_OUT)/baselines.md
	-if [ -x "$(REFERENCE_PYTHON)" ]; then $(BIN)/python bench/baselines_reference_check.py \
	    --reference-python "$(REFERENCE_PYTHON)" --markdown $(BENCH_OUT)/baselines_reference.md; fi
	-$(BIN)/python bench/io_bench.py --markdown $(BENCH_OUT)/io.md
	-if $(BIN)/python bench/simulate_bench.py --help | grep -q -- --markdown; then \
	    $(BIN)/python bench/simulate_bench.py --markdown $(BENCH_OUT)/simulate.md; \
	else $(BIN)/python bench/_report.py capture "CT simulator" $(BENCH_OUT)/simulate.md -- $(BIN)/python bench/simulate_bench.py; fi
	-$(BIN)/python bench/fan_bench.py --markdown $(BENCH_OUT)/fan.md
	-$(BIN)/python bench/dataset_bench.py --markdown $(BENCH_OUT)/dataset.md
	-$(BIN)/python bench/metrics_bench.py --markdown $(BENCH_OUT)/metrics.md
	-$(BIN)/python bench/text_bench.py --markdown $(BENCH_OUT)/text.md
	-$(BIN)/python bench/serve_bench.py --markdown $(BENCH_OUT)/serve.md
	-$(BIN)/python bench/batch_bench.py --markdown $(BENCH_OUT)/batch.md
	-$(BIN)/python bench/speed_bench.py --markdown $(BENCH_OUT)/speed.md --json $(BENCH_OUT)/speed_bench.json
	-$(BIN)/python bench/measures_bench.py --markdown $(BENCH_OUT)/measures.md
	REFERENCE_PYTHON="$(REFERENCE_PYTHON)" $(BIN)/python bench/assemble.py --dir $(BENCH_OUT) --out BENCHMARKS.md

# The shipped default training set (8000 images): real CT from the bundled samples and ../shared/data plus
# 600 phantoms (6400 images), and a supplement whose references are the real slices re-acquired at 25-60 HU
# noise (1600 images), merged (~55 min on 2 cores).
dataset: install
	$(BIN)/vliqa data build --source default --n 6400 --phantoms 600 --out data/ctiqa-sim --seed 0
	$(BIN)/vliqa data build --source default --n 1600 --noisy-references 2 --real-fraction 1.0 --out data/ctiqa-noisy --seed 1
	rm -rf data/ctiqa-default
	$(BIN)/vliqa data merge data/ctiqa-sim data/ctiqa-noisy --out data/ctiqa-default

# `make dataset`'s sets built by an older vliqa (CHANGELOG.md: the labels changed in 0.2.0, 0.5.0, 0.6.0, 0.7.0),
# brought up to the current labels exactly: each part replayed and rescored (`vliqa data upgrade`, ~15 min on
# 2 cores), then merged again. A fresh `make dataset` needs none of it.
upgrade-data: install
	$(BIN)/vliqa data upgrade data/ctiqa-sim --phantoms 600
	$(BIN)/vliqa data upgrade data/ctiqa-noisy
	rm -rf data/ctiqa-default
	$(BIN)/vliqa data merge data/ctiqa-sim data/ctiqa-noisy --out data/ctiqa-default

# An experiment that did not ship (CHANGELOG.md, 0.4.0): two noisy-reference supplements with only dose and
# denoising degradations, merged with the default set into data/ctiqa-with-denoise (9200 images; ~30 min more).
# Training on it made the held-out sum worse (2.007 vs 2.172), so it is not the default's data.
DENOISE_ONLY = $(foreach d,low_dose detail_loss ir_texture residual_streaks smooth_bilateral smooth_cnn smooth_gaussian smooth_nlm smooth_tv,--only $(d))
dataset-denoise: dataset
	$(BIN)/vliqa data build --source default --n 600 --noisy-references 2 --real-fraction 1.0 --out data/ctiqa-denoise --seed 2 $(DENOISE_ONLY)
	$(BIN)/vliqa data build --source default --n 600 --noisy-references 2 --real-fraction 1.0 --out data/ctiqa-denoise2 --seed 3 $(DENOISE_ONLY)
	rm -rf data/ctiqa-with-denoise
	$(BIN)/vliqa data merge data/ctiqa-sim data/ctiqa-noisy data/ctiqa-denoise data/ctiqa-denoise2 --out data/ctiqa-with-denoise

# The tiny MSE CNN denoiser that `smooth_cnn` uses to make waxy denoiser texture (shipped checkpoint).
denoiser: install
	OMP_NUM_THREADS=2 $(BIN)/python -m vliqa.train.denoiser --out src/vliqa/models/denoiser --steps 1200 --seed 0

# The reader model: trained on the real reader studies, dose pairs and restorations in ../shared/data (~5 min on
# 2 cores); writes the shipped checkpoint and the out-of-fold predictions the reader benchmark reports.
train-reader: install
	OMP_NUM_THREADS=1 $(BIN)/python -m vliqa.train.reader --out src/vliqa/models/reader --oof-dir runs/reader_oof

# The quality VLM's CT set: 3000 degraded slices of real CT and 200 phantoms (~35 min on 2 cores; resumes).
vlm-dataset: install
	$(BIN)/vliqa data build --source default --n 3000 --phantoms 200 --out data/vlm-ct --seed 7

# The shipped quality VLM (src/vliqa/models/vlm): image vectors of data/vlm-ct (cached in data/vlm-features.npz),
# photographs, then 4000 steps (~25 min on 2 idle cores after the data set).
train-vlm: vlm-dataset
	$(BIN)/vliqa train vlm --data data/vlm-ct --out src/vliqa/models/vlm --steps 4000 --photos 600

# The photo model (photographs, DepictQA's domain; `vliqa assess --domain auto|photo`): distorted crops of the free
# photos scikit-image ships, rule labels; held-out figures on an unseen photo in its model card (~4 min on 2 cores).
train-photo: install
	OMP_NUM_THREADS=1 $(BIN)/python -m vliqa.train.photo --out src/vliqa/models/photo

# Agreement with radiologists on real CT: every shipped model beside every baseline (BENCHMARKS.md, "Readers").
bench-readers: install
	mkdir -p out
	$(BIN)/python bench/reader_bench.py --model reader --model medqm \
	    --oof reader=runs/reader_oof/oof_nr.json --oof-fr reader=runs/reader_oof/oof_fr.json --json out/reader_bench.json --markdown out/reader_bench.md

# The shipped default scorer (MedQM-I), trained on `make dataset`'s output, copied into the package.
train-scorer: install
	$(BIN)/vliqa train scorer --data data/ctiqa-default --out runs/scorer-default --config configs/scorer_default.json
	mkdir -p src/vliqa/models/medqm
	cp runs/scorer-default/config.json runs/scorer-default/model.safetensors runs/scorer-default/MODEL_CARD.md \
	   runs/scorer-default/train_config.json src/vliqa/models/medqm/
	printf '\n**Shipped as** `medqm` (`vliqa.load("medqm")`; the default model is `reader`): reproduce with `make dataset && make train-scorer`; held-out figures beside every baseline: `make bench-scorer` (BENCHMARKS.md, "Scorer").\n' >> src/vliqa/models/medqm/MODEL_CARD.md

# The regression + rank scorer the default (RPS) is compared with in the benchmark: same data and recipe, other loss.
train-scorer-regrank: install
	$(BIN)/vliqa train scorer --data data/ctiqa-default --out runs/scorer-regrank --config configs/scorer_regression_rank.json

# The image-only CNN regressor baseline (IQAGPT's comparison model) on the same data, for the scorer benchmark.
train-regressor: install
	$(BIN)/vliqa train regressor --data data/ctiqa-default --out runs/regressor --config configs/regressor_default.json

# The [scorer] benchmark: held-out split, real-CT dose and denoiser checks, DICOM vs PNG, throughput.
bench-scorer: install-dev
	mkdir -p out
	$(BIN)/python bench/scorer_bench.py --model medqm --model runs/scorer-regrank --model runs/regressor \
	    --data data/ctiqa-default --json out/scorer_bench.json

# The MedQM-D diagnostic model: a tiny lesion U-Net trained on phantoms, with its sigmoid mapping.
lesion-net: install
	$(BIN)/python -m vliqa.train.lesion_net --out src/vliqa/models/lesion_net

# After a physics-labeller change: refit only lesion_net's sigmoid mapping to the new labels (~1 min).
lesion-net-mapping: install
	$(BIN)/python -m vliqa.train.lesion_net --out src/vliqa/models/lesion_net --recalibrate

# The scorer's medical textual priors: all-MiniLM-L6-v2 sentence embeddings, computed offline once.
priors: $(BIN)/python
	$(BIN)/pip install --quiet -e ".[priors]"
	HF_HUB_OFFLINE=1 $(BIN)/python -m vliqa.models.priors --out src/vliqa/models/priors_data

# Figures in docs/: phantoms, every degradation at three severities, metal, denoisers.
figures: install
	$(BIN)/python bench/make_phantom_figure.py
	$(BIN)/python bench/make_degradation_figure.py
	$(BIN)/python docs/make_metal_figure.py
	$(BIN)/python docs/make_denoise_figures.py

clean:
	rm -rf $(VENV) out build *.egg-info
