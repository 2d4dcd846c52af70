"""The local web studio (`huia studio`, see app.create_app) and the static model server (`huia serve`, serve.py)."""
