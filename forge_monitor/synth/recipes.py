"""Nova recipe YAML in the real shapes of ``aws/sagemaker-hyperpod-recipes`` (reference/formats.md 3)."""

from __future__ import annotations

REASONING_MIX = """\
  data_mixing:
    dataset_catalog: sft_1p5_text_chat
    sources:
      customer_data:
        percent: {customer}
      nova_data:
        agents: 1
        baseline: 10
        chat: 0.5
        code: 10
        factuality: 0.1
        identity: 1
        long-context: 1
        math: 2
        rai: 1
        instruction-following: 13
        stem: 0.5
        planning: 10
        reasoning-chat: 0.5
        reasoning-code: 0.5
        reasoning-factuality: 0.5
        reasoning-instruction-following: 45
        reasoning-math: 0.5
        reasoning-planning: 0.5
        reasoning-rag: 0.4
        reasoning-rai: 0.5
        reasoning-stem: 0.4
        rag: 1
        translation: 0.1
"""


def nova2_sft(*, name: str, max_steps: int, warmup: int, lr: str = "1e-5", lora: bool = True, alpha: int = 64,
              val_check_interval: int = 2500, validation: str = '""', mixing_customer: int | None = None) -> str:
    peft = ('    peft_scheme: "lora"\n    lora_tuning:\n      alpha: {alpha}\n      lora_plus_lr_ratio: 64.0\n'.format(alpha=alpha)
            if lora else '    peft_scheme: "null"\n')
    text = f"""\
# Nova 2.0 Lite SFT ({'LoRA' if lora else 'full rank'}) - shape of nova_lite_2_0_p5_gpu_{'lora_' if lora else ''}sft.yaml
run:
  name: {name}
  model_type: amazon.nova-2-lite-v1:0:256k
  model_name_or_path: nova-lite-2/prod
  data_s3_path: s3://my-bucket-name/train.jsonl
  validation_data_s3_path: {validation}
  validation_data_s3_path_list: {{}}
  replicas: 1
  output_s3_path: s3://my-bucket-name/outputs/
  mlflow_tracking_uri: ""
  mlflow_experiment_name: "{name}-experiment"
  mlflow_run_name: "{name}"
training_config:
  max_steps: {max_steps}
  save_steps: ${{oc.select:training_config.max_steps}}
  save_top_k: 5
  max_length: 32768
  global_batch_size: 32
  reasoning_enabled: true
  val_check_interval: {val_check_interval}
  limit_val_batches: 2
  lr_scheduler:
    warmup_steps: {warmup}
    min_lr: 1e-6
  optim_config:
    lr: {lr}
    weight_decay: 0.0
    adam_beta1: 0.9
    adam_beta2: 0.95
  peft:
{peft}  model_importance_score:
    fine_tuned_model: 1.0
"""
    if mixing_customer is not None:
        text += REASONING_MIX.format(customer=mixing_customer)
    return text


def nova2_cpt(*, name: str, max_steps: int, warmup: int, batch: int = 256, max_length: int = 8192) -> str:
    return f"""\
# Nova 2.0 Lite CPT - shape of nova_lite_2_0_p5x8_gpu_pretrain.yaml
run:
  name: {name}
  model_type: amazon.nova-2-lite-v1:0:256k
  model_name_or_path: nova-lite-2/prod
  data_s3_path: s3://my-bucket-name/cpt-corpus/
  replicas: 8
  output_s3_path: s3://my-bucket-name/outputs/
training_config:
  task_type: cpt
  max_length: {max_length}
  global_batch_size: {batch}
  trainer:
    max_steps: {max_steps}
    val_check_interval: {max_steps}
    limit_val_batches: 2
  model:
    hidden_dropout: 0.0
    attention_dropout: 0.0
  optim:
    optimizer: adam
    lr: 1e-5
    name: distributed_fused_adam
    adam_w_mode: true
    eps: 1e-06
    weight_decay: 0.0
    adam_beta1: 0.9
    adam_beta2: 0.95
    sched:
      warmup_steps: {warmup}
      constant_steps: 0
      min_lr: 1e-6
"""


def nova2_rft_smtj(*, name: str, max_steps: int, lr: str = "1e-5", generations: int = 2,
                   max_new_tokens: int = 8192, kl: str = "0.001") -> str:
    return f"""\
# Nova 2.0 Lite RFT on SageMaker training jobs (LoRA) - shape of nova_lite_v2_smtj_p5_p5en_gpu_lora_rft.yaml
run:
  name: {name}
  model_type: amazon.nova-2-lite-v1:0:256k
  model_name_or_path: nova-lite-2/prod
  data_s3_path: s3://my-bucket-name/rft-prompts.jsonl
  replicas: 4
  reward_lambda_arn: arn:aws:lambda:us-east-1:123456789012:function:my-reward
  output_s3_path: s3://my-bucket-name/outputs/
training_config:
  max_length: 10240
  global_batch_size: 64
  reasoning_effort: high
  data:
    shuffle: false
  rollout:
    rollout_strategy:
      type: off_policy_async
      age_tolerance: 2
    advantage_strategy:
      number_generation: {generations}
    generator:
      max_new_tokens: {max_new_tokens}
      set_random_seed: true
      temperature: 1
      top_k: 0
    rewards:
      api_endpoint:
        lambda_arn: arn:aws:lambda:us-east-1:123456789012:function:my-reward
        lambda_concurrency_limit: 12
  trainer:
    max_steps: {max_steps}
    save_steps: ${{oc.select:training_config.trainer.max_steps}}
    save_top_k: 5
    refit_freq: 4
    clip_ratio_high: 0.2
    ent_coeff: 0.0
    kl_loss_coef: {kl}
    loss_scale: 1
    optim_config:
      lr: {lr}
      weight_decay: 0.0
      adam_beta1: 0.9
      adam_beta2: 0.95
    peft:
      peft_scheme: "lora"
      lora_tuning:
        alpha: 32
        lora_plus_lr_ratio: 64.0
"""


def nova2_rft_hyperpod(*, name: str, max_steps: int, lr: str = "7e-7") -> str:
    return f"""\
# Nova 2.0 Lite RFT on HyperPod (LoRA) - shape of nova_lite_2_0_p5_gpu_lora_rft.yaml
run:
  name: {name}
  model_type: amazon.nova-2-lite-v1:0:256k
  model_name_or_path: nova-lite-2/prod
  data_s3_path: s3://my-bucket-name/rft-prompts.jsonl
  replicas: 2
  generation_replicas: 2
  rollout_worker_replicas: 1
  reward_lambda_arn: ""
  output_s3_path: s3://my-bucket-name/outputs/
training_config:
  max_length: 10240
  global_batch_size: 256
  reasoning_effort: high
  data:
    shuffle: false
  rollout:
    rollout_strategy:
      type: off_policy_async
      age_tolerance: 2
    advantage_strategy:
      number_generation: 8
    generator:
      max_new_tokens: 8192
      set_random_seed: true
      temperature: 1
      top_k: 0
    rewards:
      api_endpoint:
        lambda_arn: arn:aws:lambda:us-east-1:123456789012:function:my-reward
        lambda_concurrency_limit: 100
  trainer:
    max_steps: {max_steps}
    save_steps: ${{oc.select:training_config.trainer.max_steps}}
    save_top_k: 5
    refit_freq: 4
    clip_ratio_high: 0.2
    ent_coeff: 0.001
    loss_scale: 1
    optim_config:
      lr: {lr}
      weight_decay: 0.0
      adam_beta1: 0.9
      adam_beta2: 0.95
    peft:
      peft_scheme: "lora"
      lora_tuning:
        alpha: 32
        loraplus_lr_ratio: 64.0
"""
