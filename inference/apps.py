from django.apps import AppConfig


class InferenceConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "inference"

    def ready(self) -> None:
        from cases import hooks
        from inference import signals  # noqa: F401 - connects the receivers
        from inference.apis import (
            measurement_payload_for_radiograph,
            prediction_payload_for_radiograph,
        )
        from inference.selectors import radiographs_awaiting_model

        # What cases needs from the model, listed in cases.hooks.
        hooks.awaiting_model_register(radiographs_awaiting_model)
        hooks.radiograph_prediction_payload_register(prediction_payload_for_radiograph)
        hooks.radiograph_measurement_payload_register(measurement_payload_for_radiograph)
        hooks.radiograph_page_partial_register("inference/_radiograph_prediction.html")
