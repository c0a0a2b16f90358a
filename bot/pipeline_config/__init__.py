"""The schema of config.yml's `pipeline`: each NLU component's parameters (params.py) and the
reading of a Rasa pipeline in relaydesk's terms (rasa_config.py).

It sits in the core layer, below bot.nlu, because the config loader validates the pipeline
before anything heavy loads: bot.config reads these schemas, and bot.nlu builds its components
from the validated parameters. Nothing here imports bot.nlu.
"""
