"""One entry per cause of SPEC.md section 3, in our own words.

Each cause says what it is, why it happens, how nnlearn detects it, how to fix it, and the
spec change that tries the fix (`tries`, `--set` overrides or YAML). `symptoms` are the phrases
people type when they see it; the search matches them (see `nnlearn.knowledge.search`).
"""

from __future__ import annotations

CAUSES: dict[str, dict] = {
    "invalid_data": {
        "title": "Invalid data: NaN, Inf or out-of-range values",
        "meaning": "NaN/Inf or out-of-range values in inputs or targets",
        "what": "Some inputs or targets are not numbers (NaN, Inf), or targets fall outside what "
        "the loss accepts: class ids >= the number of outputs or negative, BCE targets outside "
        "[0, 1].",
        "why": "Missing values read from a CSV become NaN; a division by zero in feature "
        "engineering gives Inf; labels numbered from 1 instead of 0 give one id too many. A "
        "single NaN in a batch makes the loss NaN, its gradient NaN, and then every weight NaN.",
        "detect": "The data audit scans a sample of both splits for NaN/Inf per column and "
        "compares the target range with the model's output before training. A NaN loss at the "
        "very first step (L101) points here too.",
        "fixes": [
            "drop or impute the rows/columns with NaN/Inf before training "
            "(pandas: df.dropna(), df.fillna(df.median()))",
            "remap class labels to 0..C-1",
            "for BCE, make the targets 0/1 floats",
        ],
        "tries": ["nnlearn probe spec.yaml --set data.features=[a,b]   # leave the bad column out"],
        "symptoms": [
            "loss is nan from the start",
            "loss is nan at the first step",
            "nan in my data",
            "missing values",
            "infinite values in the input",
            "label out of range",
            "cuda error device-side assert triggered",
            "target out of bounds in cross entropy",
            "indexerror target is out of bounds",
        ],
    },
    "unnormalized_input": {
        "title": "Unnormalised inputs: features far from zero mean, unit scale",
        "meaning": "features (or regression targets) far from zero mean, unit scale",
        "what": "Input features (or regression targets) with large means or scales, or scales "
        "that differ by orders of magnitude between features.",
        "why": "Initialisations assume inputs of unit scale. A feature in the thousands makes "
        "the first layer's pre-activations huge: units saturate or die, gradients are large "
        "in one direction and tiny in another, and no single learning rate suits them all. "
        "Regression targets in the thousands make the MSE loss and its gradients huge.",
        "detect": "The data audit measures per-feature mean and standard deviation (and of "
        "regression targets) on a sample; the activation instruments see the first layer's "
        "scale.",
        "fixes": [
            "standardise each feature with the training split's mean and std "
            "(sklearn StandardScaler, or torchvision Normalize for images)",
            "scale regression targets and invert the scaling at prediction time",
            "add a BatchNorm/LayerNorm after the input",
        ],
        "tries": ["nnlearn probe spec.yaml --set data.standardize=true"],
        "symptoms": [
            "features have different scales",
            "inputs not normalized",
            "should i normalize my data",
            "large input values",
            "regression loss is huge",
            "pixel values 0 to 255",
        ],
    },
    "biased_data": {
        "title": "Biased data: class imbalance, unrepresentative samples",
        "meaning": "class imbalance, unrepresentative data",
        "what": "One class dominates, or the training data does not look like the data the "
        "model is judged on (a different period, source or population).",
        "why": "With 95% of one class, always predicting it gives 95% accuracy and a loss at "
        "the prior's entropy: the easiest minimum is to ignore the input. An unrepresentative "
        "split makes validation disagree with training for reasons no model change fixes.",
        "detect": "The data audit counts classes in both splits and compares their "
        "distributions; the baseline experiment checks the model beats an input-independent "
        "predictor; a loss stuck at the chance level is its symptom.",
        "fixes": [
            "weight the loss by inverse class frequency (CrossEntropyLoss(weight=...), "
            "BCEWithLogitsLoss(pos_weight=...))",
            "oversample the rare classes (WeightedRandomSampler) or undersample the common one",
            "judge with balanced accuracy, F1 or AUC instead of accuracy",
            "split train/val with stratification and from the same distribution",
        ],
        "tries": ["nnlearn probe spec.yaml --set probe.experiments=[init_check,baseline]"],
        "symptoms": [
            "accuracy stuck at 50%",
            "model predicts the same class for everything",
            "always predicts the majority class",
            "class imbalance",
            "imbalanced dataset",
            "high accuracy but useless predictions",
            "one class dominates",
            "high accuracy but predicts only one class",
            "biased data",
        ],
    },
    "inconsistent_data": {
        "title": "Inconsistent data: conflicting labels, duplicates across splits",
        "meaning": "conflicting or noisy labels, duplicated samples across train and val",
        "what": "Identical (or nearly identical) inputs with different labels; samples that "
        "appear in both the training and the validation split; labels misaligned with inputs.",
        "why": "Conflicting labels put a floor under the training loss and teach the model to "
        "memorise noise. Duplicates across splits make validation look better than the truth. "
        "Shuffling inputs and labels separately destroys the signal entirely.",
        "detect": "The data audit hashes samples to find conflicts and train/val overlap; the "
        "shuffled_labels experiment checks real labels are learnt better than permuted ones.",
        "fixes": [
            "deduplicate, and split train/val after deduplication (by group, e.g. per user)",
            "review or relabel the conflicting samples; use label smoothing for noisy labels",
            "check that inputs and labels are shuffled together",
        ],
        "tries": ["nnlearn probe spec.yaml --set probe.experiments=[init_check,shuffled_labels]"],
        "symptoms": [
            "noisy labels",
            "wrong labels",
            "duplicate samples in train and validation",
            "data leakage between train and test",
            "inconsistent data",
            "same input different label",
            "model learns random labels as well as real ones",
        ],
    },
    "insufficient_data": {
        "title": "Insufficient data: more data would still help",
        "meaning": "too little data for the model; more data would still help",
        "what": "The model has more capacity than the data can pin down: validation keeps "
        "improving as more training data is added.",
        "why": "With few samples per parameter the model fits the training set exactly and "
        "generalises poorly; the gap closes only with more (or augmented) data or a simpler "
        "model.",
        "detect": "The data_scaling experiment trains on 25/50/100% of the data; validation "
        "that still improves at 100% means more data helps.",
        "fixes": [
            "collect or label more data",
            "augment the data (crops, flips, noise) for images and signals",
            "start from pre-trained weights (transfer learning)",
            "use a smaller model or stronger regularisation (weight decay, dropout)",
        ],
        "tries": ["nnlearn probe spec.yaml --set probe.experiments=[init_check,data_scaling]"],
        "symptoms": [
            "not enough data",
            "small dataset",
            "will more data help",
            "how much data do i need",
            "few training samples",
        ],
    },
    "implementation_bug": {
        "title": "Implementation bug in the model, loss or training loop",
        "meaning": "parameters without gradient or that never change, double softmax, loss and "
        "output mismatch, shape broadcasting, loss at init far from chance",
        "what": "Code that runs but does not train what you think: parameters missing from the "
        "optimizer or detached from the graph, softmax before CrossEntropyLoss, sigmoid before "
        "BCEWithLogitsLoss, an output of shape (N, 1) against targets of shape (N,) that "
        "broadcasts to (N, N), a ReLU or sigmoid after a regression output that must go "
        "negative, forgetting optimizer.zero_grad(), model.eval() left on.",
        "why": "PyTorch rarely complains about these: the loss is a number and goes down a "
        "little, so the bug shows only as poor learning.",
        "detect": "init_check lists parameters that receive no gradient or a zero gradient and "
        "compares the loss at init with the chance-level loss; the setup check measures the "
        "range the outputs are confined to against the targets; the update-ratio instruments "
        "see parameters that never change; the overfit_batch experiment checks one batch can "
        "be fitted.",
        "fixes": [
            "pass model.parameters() (all of them) to the optimizer; do not .detach() or "
            "wrap the forward in torch.no_grad()",
            "feed raw logits to CrossEntropyLoss / BCEWithLogitsLoss (no softmax or sigmoid)",
            "match output and target shapes exactly (squeeze the (N, 1) output)",
            "end regression and logit outputs in a plain Linear layer: a ReLU, sigmoid or tanh "
            "after it confines the outputs to its range",
            "call optimizer.zero_grad() every step",
            "overfit a single batch before anything else",
        ],
        "tries": ["nnlearn probe spec.yaml --set probe.experiments=[init_check,overfit_batch]"],
        "symptoms": [
            "gradients are zero",
            "gradient is none",
            "weights not updating",
            "parameters do not change",
            "loss does not change at all",
            "cannot overfit a single batch",
            "double softmax",
            "loss at init is wrong",
            "shape mismatch broadcasting warning",
            "bug in my training loop",
            "regression predictions never negative",
            "relu on the last layer",
            "sigmoid on the regression output",
            "activation after the output layer",
        ],
    },
    "lr_too_high": {
        "title": "Learning rate too high",
        "meaning": "divergence, NaN loss, oscillation, update ratios far above ~1e-3",
        "what": "Each update overshoots the minimum it is heading for: the loss oscillates, "
        "jumps, climbs, and ends in NaN.",
        "why": "The stable step size is bounded by the curvature of the loss (about 2 / the "
        "largest Hessian eigenvalue for gradient descent). Beyond it the iterates bounce out of "
        "the valley. Updates much larger than ~1e-3 of the weights' size are the usual sign.",
        "detect": "The loss rules see a NaN loss (L101), divergence (L103) and oscillation; "
        "the update-ratio instruments compare |update| / |weight| per layer with ~1e-3; the "
        "lr_range experiment sweeps the learning rate and suggests one.",
        "fixes": [
            "lower the learning rate 3-10x, or take the lr_range experiment's suggestion",
            "clip the gradient norm (e.g. 1.0)",
            "warm the learning rate up over the first few hundred steps",
            "use Adam/AdamW, which adapt the step size per parameter",
        ],
        "tries": [
            "nnlearn probe spec.yaml --set optimizer.lr=3e-4",
            "nnlearn probe spec.yaml --set optimizer.grad_clip=1.0",
        ],
        "symptoms": [
            "loss becomes nan after a few steps",
            "loss explodes",
            "loss goes up",
            "training loss increases",
            "loss oscillates",
            "loss jumps around",
            "loss diverges",
            "learning rate too high",
        ],
    },
    "lr_too_low": {
        "title": "Learning rate too low",
        "meaning": "loss barely moves, update ratios far below ~1e-3",
        "what": "The updates are so small that the loss barely moves within any reasonable "
        "number of steps.",
        "why": "A learning rate copied from another optimiser (SGD's 0.1 vs Adam's 1e-3 is the "
        "other way round) or a schedule that decayed too early leaves updates of 1e-6 of the "
        "weights: training looks stuck.",
        "detect": "The loss rules see a flat training loss (L102); the update-ratio instruments "
        "see |update| / |weight| far below ~1e-3; the lr_range experiment finds a much larger "
        "rate that still descends.",
        "fixes": [
            "raise the learning rate 3-10x, or take the lr_range experiment's suggestion",
            "check a schedule has not decayed it to nothing",
            "first rule out a bug: every parameter in the optimizer with a gradient",
        ],
        "tries": ["nnlearn probe spec.yaml --set optimizer.lr=3e-3"],
        "symptoms": [
            "loss not decreasing",
            "loss is not going down",
            "loss stuck",
            "loss plateau",
            "training is very slow",
            "loss decreases very slowly",
            "learning rate too low",
        ],
    },
    "vanishing_gradients": {
        "title": "Vanishing gradients",
        "meaning": "gradients shrink towards the input layers",
        "what": "Gradient norms that shrink layer by layer on the way back, so the first layers "
        "barely learn.",
        "why": "Backpropagation multiplies one factor per layer: a sigmoid's derivative is at "
        "most 0.25, small initial weights scale every factor below 1, and the product shrinks "
        "exponentially with depth (Hochreiter 1991; Glorot & Bengio 2010).",
        "detect": "The gradient instruments record per-layer gradient norms; the gradient rules "
        "compare the first layers with the last.",
        "fixes": [
            "use ReLU/GELU in hidden layers instead of sigmoid/tanh",
            "use He (Kaiming) init for ReLU, Xavier for tanh",
            "add normalisation (BatchNorm/LayerNorm) and residual connections",
            "make the network shallower",
        ],
        "tries": [
            "nnlearn probe spec.yaml --set model.activation=relu --set model.init=kaiming",
            "nnlearn probe spec.yaml --set model.batchnorm=true",
        ],
        "symptoms": [
            "gradients vanish",
            "vanishing gradient",
            "first layers do not learn",
            "early layers learn much slower than later ones",
            "gradients small in the early layers",
            "gradients are very small",
            "deep network does not train",
            "why do gradients vanish",
        ],
    },
    "exploding_gradients": {
        "title": "Exploding gradients",
        "meaning": "gradients blow up",
        "what": "Gradient norms that grow by orders of magnitude, layer by layer or step by "
        "step, until updates throw the weights far away.",
        "why": "The same product of per-layer factors as vanishing gradients, with factors above "
        "1: large initial weights, unnormalised inputs, recurrent connections, or a learning "
        "rate that has already sent the weights somewhere steep.",
        "detect": "The gradient instruments record global and per-layer gradient norms; the "
        "gradient rules flag norms that grow far above their early values or between layers.",
        "fixes": [
            "clip the gradient norm (e.g. 1.0)",
            "lower the learning rate",
            "normalise the inputs and use a scaled init (Kaiming/Xavier)",
            "add normalisation layers",
        ],
        "tries": ["nnlearn probe spec.yaml --set optimizer.grad_clip=1.0"],
        "symptoms": [
            "gradients explode",
            "exploding gradient",
            "gradient norm is huge",
            "why do gradients explode",
            "gradients are inf",
        ],
    },
    "poor_initialization": {
        "title": "Poor initialisation",
        "meaning": "activation scale collapses or explodes with depth at init; symmetric "
        "(constant) weights",
        "what": "Initial weights whose scale makes activations shrink to zero or grow without "
        "bound through the layers, or identical weights that keep every unit in a layer the "
        "same forever.",
        "why": "Each layer multiplies the activation variance by about n_in * Var(w) (times 1/2 "
        "for ReLU); only Var(w) = 1/n_in (Xavier) or 2/n_in (He) keeps it stable (Glorot & "
        "Bengio 2010; He et al. 2015). Constant weights give identical gradients, so units never "
        "differ.",
        "detect": "init_check measures the activation scale through depth and the loss at "
        "init; a non-finite loss before any update (L101 at step 0) points here or at the data.",
        "fixes": [
            "use the framework's default init, or Kaiming for ReLU and Xavier for tanh",
            "never initialise weights to a constant (zeros) except biases",
            "add normalisation layers",
        ],
        "tries": ["nnlearn probe spec.yaml --set model.init=kaiming"],
        "symptoms": [
            "loss at init is too high",
            "all outputs are the same",
            "weights initialized to zero",
            "activations explode at initialization",
            "bad initialization",
            "loss is nan before training",
        ],
    },
    "dead_units": {
        "title": "Dead ReLU units",
        "meaning": "ReLU units that never activate",
        "what": "ReLU units whose input is negative for every sample: their output and gradient "
        "are zero, so they never recover.",
        "why": "A large update (a learning rate too high) or a large negative bias pushes a "
        "unit's pre-activation below zero everywhere. A network with many dead units has "
        "effectively lost that width.",
        "detect": "The activation instruments record the fraction of units that are zero on "
        "every sample of a batch, per layer, over the run.",
        "fixes": [
            "lower the learning rate",
            "use LeakyReLU, ELU or GELU, which keep a gradient for negative inputs",
            "use Kaiming init and normalise the inputs",
        ],
        "tries": [
            "nnlearn probe spec.yaml --set model.activation=leaky_relu",
            "nnlearn probe spec.yaml --set optimizer.lr=3e-4",
        ],
        "symptoms": [
            "dead relu",
            "relu units output zero",
            "dying relu",
            "activations are all zero",
            "neurons never activate",
        ],
    },
    "saturated_activations": {
        "title": "Saturated activations",
        "meaning": "sigmoid/tanh units stuck at their extremes",
        "what": "Sigmoid or tanh units whose inputs are so large that their outputs sit at 0/1 "
        "(or -1/1), where the derivative is nearly zero.",
        "why": "Unnormalised inputs, large initial weights or large updates push pre-activations "
        "into the flat tails; gradients through those units vanish.",
        "detect": "The activation instruments record the fraction of sigmoid/tanh outputs near "
        "their extremes, per layer.",
        "fixes": [
            "normalise the inputs",
            "use Xavier init for tanh/sigmoid, or switch hidden layers to ReLU/GELU",
            "add BatchNorm/LayerNorm before the activation",
            "lower the learning rate",
        ],
        "tries": [
            "nnlearn probe spec.yaml --set model.activation=gelu",
            "nnlearn probe spec.yaml --set data.standardize=true",
        ],
        "symptoms": [
            "sigmoid saturates",
            "tanh outputs are all 1 or -1",
            "saturated neurons",
            "sigmoid outputs stuck at 0 or 1",
        ],
    },
    "low_capacity": {
        "title": "Low capacity: the model cannot fit even the training data",
        "meaning": "the model cannot fit even the training data (too small, too shallow)",
        "what": "Training loss that stays high although the learning rate is fine and the data "
        "is clean: the model is too small or too simple for the function to learn (underfitting).",
        "why": "A linear model cannot separate spirals; a 4-unit layer cannot represent many "
        "classes; too much regularisation (dropout, weight decay) has the same effect.",
        "detect": "The overfit_batch experiment checks the model can drive the loss on one "
        "small batch near zero; the fit rules compare the final training loss with the "
        "chance level and the baseline.",
        "fixes": [
            "make the model wider or deeper (wider first: it is easier to optimise)",
            "reduce dropout and weight decay",
            "train longer once the loss is still falling",
        ],
        "tries": ["nnlearn probe spec.yaml --set model.hidden=[256,256]"],
        "symptoms": [
            "model is underfitting",
            "underfitting",
            "training accuracy is low",
            "training loss stays high",
            "model too small",
            "cannot fit the training data",
        ],
    },
    "overfitting": {
        "title": "Overfitting",
        "meaning": "training loss falls while validation loss rises or stalls far above",
        "what": "The model fits the training set better and better while the validation loss "
        "stops improving or rises: it memorises instead of generalising.",
        "why": "Capacity far above what the data supports, too many epochs, duplicated or leaky "
        "data, no regularisation.",
        "detect": "The fit rules compare training and validation loss over the run: a widening "
        "gap, or validation rising from its best value.",
        "fixes": [
            "stop early at the best validation loss (keep that checkpoint)",
            "add regularisation: weight decay (AdamW), dropout, data augmentation",
            "get more data or start from pre-trained weights",
            "use a smaller model",
        ],
        "tries": [
            "nnlearn probe spec.yaml --set optimizer.weight_decay=0.01 --set model.dropout=0.2"
        ],
        "symptoms": [
            "val loss goes up",
            "validation loss increases while training loss decreases",
            "training accuracy high but validation accuracy low",
            "model overfits",
            "overfitting",
            "gap between train and validation",
            "test accuracy much lower than train accuracy",
        ],
    },
}
