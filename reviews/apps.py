from django.apps import AppConfig


def _reads_for_radiograph(*, radiograph, user) -> list[dict]:
    from reviews.selectors import review_payload_for_radiograph

    return review_payload_for_radiograph(radiograph=radiograph, user=user)["reads"]


def _correction_for_radiograph(*, radiograph, user) -> dict | None:
    from reviews.selectors import measurement_correction_payload

    return measurement_correction_payload(radiograph=radiograph, user=user)


class ReviewsConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "reviews"

    def ready(self) -> None:
        from cases import hooks

        # The radiograph API shows the reads this user may see (listed in cases.hooks).
        hooks.radiograph_reads_payload_register(_reads_for_radiograph)
        # The case list and case page show each film's state (listed in cases.hooks).
        from reviews.film_states import film_states_for_case, film_states_for_cases

        hooks.film_states_register(for_case=film_states_for_case, for_cases=film_states_for_cases)
        # The radiograph API and page show the reviewer's corrected Cobb angle (cases.hooks).
        hooks.radiograph_measurement_correction_payload_register(_correction_for_radiograph)
        hooks.radiograph_page_partial_register("review/_measurement_correction.html")
        # The case report prints each film's Cobb measurement.
        from reviews.report import cobb_report_measurements, report_measurement_provider_register

        report_measurement_provider_register(cobb_report_measurements)
