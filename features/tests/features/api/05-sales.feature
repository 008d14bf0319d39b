Feature: Recording a sale

  Background:
    Given the retail estate

  @api-5
  Scenario: A sale is echoed with the key quantitySold and a normalised timestamp
    When I send POST /locations/Store-001/products/SKU1/sales with:
      """
      {"requestId":"r1","quantity":5,"soldAt":"2024-12-07T12:00:00Z"}
      """
    Then the response is 201 with body:
      """
      { "requestId": "r1", "locationId": "Store-001", "productId": "SKU1", "quantitySold": 5.0, "soldAt": "2024-12-07T12:00:00" }
      """
    And the response content type is "application/json"

  @api-5 @domain-2
  Scenario: A sale never fails for lack of stock
    Given "Store-001" received a delivery of 3 "SKU1" at "2024-12-07T08:00:00"
    When I send POST /locations/Store-001/products/SKU1/sales with:
      """
      {"requestId":"r1","quantity":5,"soldAt":"2024-12-07T12:00:00"}
      """
    Then the response status is 201
    And the stock of "SKU1" at "Store-001" is 0.0, pending -2.0, last updated "2024-12-07T12:00:00"

  @api-5
  Scenario: A sale at an unknown location is not found
    When I send POST /locations/Atlantis/products/SKU1/sales with:
      """
      {"requestId":"r1","quantity":5,"soldAt":"2024-12-07T12:00:00"}
      """
    Then the response is 404 with body {"status":"LocationNotFound"}

  @api-5 @api-9
  Scenario: A sale at an untracked location with a tracked ancestor is redirected there
    When I send POST /locations/Untracked-1/products/SKU12345/sales with:
      """
      {"requestId":"r1","quantity":5,"soldAt":"2024-12-07T12:00:00"}
      """
    Then the response is 303 with body {"status":"LocationNotTracked"}
    And the response has the header "Location" with value "/locations/Store-001/products/SKU12345/sales"

  @api-5 @api-9
  Scenario: A sale at an untracked location without a tracked ancestor is refused
    When I send POST /locations/Returns%20Desk/products/SKU1/sales with:
      """
      {"requestId":"r1","quantity":5,"soldAt":"2024-12-07T12:00:00"}
      """
    Then the response is 400 with body {"status":"LocationNotTracked"}

  @api-5
  Scenario Outline: A sale's missing fields, bad date-time and bad body are the three 400 shapes: <answer>
    When I send POST /locations/Store-001/products/SKU1/sales with:
      """
      <body>
      """
    Then the response is 400 with body <answer>

    Examples:
      | body                                                        | answer                                       |
      | {"requestId":"r1"}                                          | {"missingFields":["quantity","soldAt"]}      |
      | {"requestId":"r1","quantity":5,"soldAt":"yesterday"}        | {"invalidValues":["soldAt"]}                 |
      | {"requestId":"r1","quantity":5,"sold":"2024-12-07T12:00"}   | {"status":"BadRequest"}                      |

  @api-5 @domain-2
  Scenario: A zero sale is accepted and changes only lastUpdated
    Given "Store-001" received a delivery of 3 "SKU1" at "2024-12-07T08:00:00"
    When I send POST /locations/Store-001/products/SKU1/sales with:
      """
      {"requestId":"r1","quantity":0,"soldAt":"2024-12-07T12:00:00"}
      """
    Then the response is 201 with body {"requestId":"r1","locationId":"Store-001","productId":"SKU1","quantitySold":0.0,"soldAt":"2024-12-07T12:00:00"}
    And the stock of "SKU1" at "Store-001" is 3.0, last updated "2024-12-07T12:00:00"
