"""The Whisper family's model class (see whisper.py): imported only where a Whisper model is built or loaded, since
transformers' Whisper modelling code takes a while to import and the other families never need it."""

from __future__ import annotations

import torch
from torch import nn
from transformers import WhisperForAudioClassification
from transformers.modeling_outputs import SequenceClassifierOutput

from ser_utils.model.whisper import pooled_frames


class WhisperEmotionClassifier(WhisperForAudioClassification):
    """WhisperForAudioClassification with the other families' interface (its encoder is its base model, the two
    convolutions its feature encoder) whose head averages the first `config.pooled_frames` frames only (all of
    them where the config has none)."""

    @property
    def base_model(self) -> nn.Module:
        return self.encoder

    def freeze_base_model(self) -> None:
        self.encoder._freeze_parameters()

    def freeze_feature_encoder(self) -> None:
        for convolution in (self.encoder.conv1, self.encoder.conv2):
            convolution.requires_grad_(False)

    def forward(self, input_features=None, labels=None, **kwargs) -> SequenceClassifierOutput:
        weighted = self.config.use_weighted_layer_sum
        outputs = self.encoder(input_features, output_hidden_states=weighted)
        if weighted:
            weights = nn.functional.softmax(self.layer_weights, dim=-1)
            hidden = (torch.stack(outputs.hidden_states, dim=1) * weights.view(-1, 1, 1)).sum(dim=1)
        else:
            hidden = outputs.last_hidden_state
        hidden = hidden[:, : pooled_frames(self.config)]
        logits = self.classifier(self.projector(hidden).mean(dim=1))
        loss = nn.functional.cross_entropy(logits, labels.to(logits.device)) if labels is not None else None
        return SequenceClassifierOutput(loss=loss, logits=logits)
