"""Single-sentence and sentence-pair classification (NLI, paraphrase, ...).

The head reads the first token's final state, like RoBERTa's classification head (dense + tanh +
dropout + projection), so it works on any encoder.
"""

from __future__ import annotations

import numpy as np

from stilts.formats.base import TaskFormat, TransferRows, copy_linear, encoder_inputs, pad_right
from stilts.metrics.classification import accuracy, binary_f1
from stilts.metrics.per_example import chunk_counts, example_id, right, row_text
from stilts.metrics.predictions import value_lines


class Classification(TaskFormat):
    """Examples ``{"id", "text_a", "text_b" (optional), "label": label name, or None in a test file}``."""

    name = "classification"
    text_fields = ("text_a", "text_b")
    optional_text_fields = ("text_b",)
    scored_translated = True

    def label_problem(self, example, task):
        label = example.get("label")
        if label is not None and label not in task.labels:
            return f"label {label!r} is not one of {', '.join(task.labels)}"
        return None

    def featurize(self, examples, tokenizer, task, max_length):
        pair = examples.get("text_b") is not None and examples["text_b"][0] is not None
        encoded = tokenizer(
            examples["text_a"], examples["text_b"] if pair else None, truncation=True, max_length=max_length
        )
        label_ids = {label: index for index, label in enumerate(task.labels)}
        if all(label is not None for label in examples["label"]):  # test files come without (predict)
            encoded["labels"] = [label_ids[label] for label in examples["label"]]
        return dict(encoded)

    def collate(self, features, tokenizer):
        import torch  # in the methods that run a model only (see stilts.formats.base)

        inputs = [{key: value for key, value in feature.items() if key != "labels"} for feature in features]
        batch = pad_right(tokenizer, inputs)
        if "labels" in features[0]:
            batch["labels"] = torch.tensor([feature["labels"] for feature in features], dtype=torch.long)
        return batch

    def build_head(self, task, hidden_size):
        from stilts.formats.heads import ClassificationHead

        return ClassificationHead(hidden_size, len(task.labels))

    hf_task_model = "AutoModelForSequenceClassification"

    def export_head(self, head, task_model):
        from torch import nn

        classifier = getattr(task_model, "classifier", None)
        if hasattr(classifier, "dense") and hasattr(classifier, "out_proj"):  # RoBERTa/XLM-R: the same head
            copy_linear(head.dense, classifier.dense)
            copy_linear(head.out_proj, classifier.out_proj)
            return
        pooler = getattr(task_model.base_model, "pooler", None)
        if isinstance(getattr(pooler, "activation", None), nn.Tanh) and isinstance(classifier, nn.Linear):
            copy_linear(head.dense, pooler.dense)  # BERT: tanh(dense(first token)) is its pooler
            copy_linear(head.out_proj, classifier)
            return
        raise ValueError(
            f"{type(task_model).__name__} classifies with another head than dense -> tanh -> out_proj on the "
            "first token"
        )

    packs = True

    def forward(self, encoder, head, batch):
        from torch import nn

        from stilts.formats.packing import first_tokens, is_packed, packed_encoder_inputs

        if is_packed(batch):  # one row of examples: each one's first token
            states = encoder(**packed_encoder_inputs(encoder, batch)).last_hidden_state
            first = states[0, first_tokens(batch)]
        else:
            first = encoder(**encoder_inputs(batch)).last_hidden_state[:, 0]
        logits = head(first)
        loss = nn.functional.cross_entropy(logits.float(), batch["labels"]) if "labels" in batch else None
        return loss, logits

    def predict(self, outputs, features, examples, task):
        return [task.labels[index] for index in np.asarray(outputs).argmax(axis=-1)]

    def probabilities(self, outputs, features, examples, task):
        """The softmax of each example's logits, per label (in the order of the task's labels)."""
        from stilts.analysis.calibration import softmax  # pandas, which the catalogs need not import

        return [dict(zip(task.labels, row)) for row in softmax(np.asarray(outputs, dtype=np.float64)).tolist()]

    transfer_labels = "the first token's state, labelled with the example's class"

    def transfer_rows(self, encoder, batch):
        """The first token's state, which the head reads, labelled with the class."""
        states = encoder(**encoder_inputs(batch)).last_hidden_state[:, 0]
        return TransferRows(states.float().cpu().numpy(), labels=batch["labels"].cpu().numpy())

    def constant_guesses(self, examples, task):
        return [[label] * len(examples) for label in task.labels]

    def score(self, predictions, examples, task, language):
        gold = [example["label"] for example in examples]
        scores = {"accuracy": accuracy(predictions, gold)}
        if task.metric == "f1":  # QQP-style paraphrase detection also reports F1 of the positive class
            scores["f1"] = binary_f1(predictions, gold, positive=task.labels[-1])
        return scores

    def prediction_text(self, predictions, examples, task, state):
        return value_lines(predictions)

    def example_rows(self, predictions, examples, task, language, state):
        rows = []
        for index, (prediction, example) in enumerate(zip(predictions, examples)):
            metrics = {"accuracy": right(prediction == example["label"])}
            if task.metric == "f1":
                positive = task.labels[-1]
                counts = chunk_counts(
                    int(prediction == example["label"] == positive),
                    int(prediction == positive),
                    int(example["label"] == positive),
                )
                metrics["f1"] = counts["f1"]
            rows.append(
                {
                    "id": example_id(example, index),
                    "text": row_text(example, self.text_fields),
                    "gold": example["label"],
                    "prediction": prediction,
                    "metrics": metrics,
                }
            )
        return rows


CLASSIFICATION = Classification()
