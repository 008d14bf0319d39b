Feature: Moving stock from one location to another

  Background:
    Given the retail estate
    And "warehouse1" received a delivery of 100 "product123" at "2024-12-26T08:00:00"

  @api-7
  Scenario: A move is echoed and applied to both sides
    When I send POST /locations/warehouse1/product123/movements with:
      """
      {"requestId":"m1","destinationLocationId":"store3","quantity":50.5,"reason":"replenishment","movedAt":"2024-12-26T15:35:00Z"}
      """
    Then the response is 201 with body:
      """
      {
        "requestId": "m1", "sourceLocationId": "warehouse1", "destinationLocationId": "store3",
        "productId": "product123", "quantity": 50.5, "reason": "replenishment", "movedAt": "2024-12-26T15:35:00"
      }
      """
    And the stock of "product123" at "warehouse1" is 49.5, last updated "2024-12-26T15:35:00"
    And the stock of "product123" at "store3" is 50.5, last updated "2024-12-26T15:35:00"

  @api-7
  Scenario Outline: A move to the very same location is a bad request: <source>
    When I send POST /locations/<source>/product123/movements with:
      """
      {"requestId":"m1","destinationLocationId":"<destination>","quantity":1,"reason":"replenishment","movedAt":"2024-12-26T15:35:00"}
      """
    Then the response is 400 with body {"status":"BadRequest"}

    Examples:
      | source          | destination   |
      | warehouse1      | warehouse1    |
      | Central%20Store | Central Store |

  @api-7
  Scenario: Ids that differ only in case are different locations
    When I send POST /locations/warehouse1/product123/movements with:
      """
      {"requestId":"m1","destinationLocationId":"Warehouse1","quantity":1,"reason":"replenishment","movedAt":"2024-12-26T15:35:00"}
      """
    Then the response is 404 with body {"status":"LocationNotFound"}

  @api-7
  Scenario: A move from an unknown source is not found
    When I send POST /locations/Atlantis/product123/movements with:
      """
      {"requestId":"m1","destinationLocationId":"store3","quantity":1,"reason":"replenishment","movedAt":"2024-12-26T15:35:00"}
      """
    Then the response is 404 with body {"status":"LocationNotFound"}

  @api-7 @domain-9
  Scenario: A move to an unknown destination is not found and nothing moves
    When I send POST /locations/warehouse1/product123/movements with:
      """
      {"requestId":"m1","destinationLocationId":"Atlantis","quantity":1,"reason":"replenishment","movedAt":"2024-12-26T15:35:00"}
      """
    Then the response is 404 with body {"status":"LocationNotFound"}
    And the stock of "product123" at "warehouse1" is 100.0, last updated "2024-12-26T08:00:00"

  @api-7 @api-9
  Scenario Outline: An untracked destination is always refused, never redirected: <destination>
    When I send POST /locations/warehouse1/product123/movements with:
      """
      {"requestId":"m1","destinationLocationId":"<destination>","quantity":1,"reason":"replenishment","movedAt":"2024-12-26T15:35:00"}
      """
    Then the response is 400 with body {"status":"LocationNotTracked"}
    And the stock of "product123" at "warehouse1" is 100.0

    Examples:
      | destination  |
      | untracked1   |
      | Till 1       |
      | Kiosk 7      |
      | London       |

  @api-7 @api-9
  Scenario: An untracked source is redirected without looking up the destination
    When I send POST /locations/untracked1/product123/movements with:
      """
      {"requestId":"m1","destinationLocationId":"Atlantis","quantity":1,"reason":"replenishment","movedAt":"2024-12-26T15:35:00"}
      """
    Then the response is 303 with body {"status":"LocationNotTracked"}
    And the response has the header "Location" with value "/locations/warehouse1/product123/movements"

  @api-7 @domain-6
  Scenario: Moving more than the source holds is insufficient stock
    When I send POST /locations/warehouse1/product123/movements with:
      """
      {"requestId":"m1","destinationLocationId":"store3","quantity":100.5,"reason":"replenishment","movedAt":"2024-12-26T15:35:00"}
      """
    Then the response is 400 with body {"status":"InsufficientStock"}
    And the stock of "product123" at "warehouse1" is 100.0, last updated "2024-12-26T08:00:00"
    And the stock of "product123" at "store3" has never been updated

  @api-7
  Scenario Outline: A move's missing fields, bad date-time and bad body are the three 400 shapes: <answer>
    When I send POST /locations/warehouse1/product123/movements with:
      """
      <body>
      """
    Then the response is 400 with body <answer>

    Examples:
      | body                                                                                                                       | answer                                                      |
      | {"requestId":"m1","quantity":1}                                                                                            | {"missingFields":["destinationLocationId","reason","movedAt"]} |
      | {"requestId":"m1","destinationLocationId":"store3","quantity":1,"reason":"replenishment","movedAt":"soon"}                 | {"invalidValues":["movedAt"]}                               |
      | {"requestId":"m1","destinationLocationId":["store3"],"quantity":1,"reason":"replenishment","movedAt":"2024-12-26T15:35"}   | {"status":"BadRequest"}                                     |
